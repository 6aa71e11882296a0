// `vigil ask <file> "question" [--at mm:ss] [--json]`: one answer about a recording, as a live session would have
// given it at that media time (default: the end) — from the text memory written up to then and the frames of its
// window, nothing later. The answer streams to standard output; the line after it (standard error) gives the time
// it was asked at, time to first token, total time and the evidence: the media spans whose captions or frames were
// used. `--json` prints one JSON object instead (the C2 answer event plus how the memory was built).

import Foundation
import Memory
import SmolVLM
import Streaming
import VigilCore

struct AskCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "ask",
        abstract: "Ask one question about a recording, as if asked live at a given moment.",
        discussion: """
            The recording is read up to --at (default: its end): clip captions and summaries are written as a \
            live session would have written them by then, the frames of its window are encoded, and the question \
            is answered from those — nothing after --at is used. The answer is followed by its evidence, the \
            media spans whose captions or frames it was given. Session settings (--window, --memory-budget, \
            --clip-seconds, …) are those of `vigil watch`; docs/captioning.md explains the memory.
            """,
        arguments: [
            .positional("file", help: "The recording."),
            .positional("question", help: "The question, quoted."),
            .option("--at", value: "TIME", help: "Media time asked at: seconds, mm:ss or h:mm:ss.", default: "the end"),
            .flag("--json", help: "Print one JSON object (answer, timings, evidence) instead of text."),
            .option("--progress", value: "MODE", help: "auto (a line on a terminal), bar or none.", default: "auto"),
        ] + ModelOptions.specs + ModelArguments.randomWeightsSpecs
            + ModelArguments.computeSpecs(defaultPrecision: .auto) + SessionArguments.specs,
        examples: [
            "vigil ask lecture.mp4 \"what is on the whiteboard?\" --at 41:30",
            "vigil ask night.mkv \"did anyone come to the door?\" --json",
        ])

    var file: String
    var question: String
    var at: Double?
    var json: Bool
    var progress: CaptionCommand.ProgressMode
    var model: ModelOptions
    var preset: ModelPreset?
    var precision: Precision
    var threads: Int
    var arguments: ParsedArguments

    init(_ a: ParsedArguments) throws {
        file = try a.required("file")
        question = try a.required("question").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty else { throw ValidationError("the question is empty") }
        if let text = a.value("--at") {
            guard let t = Self.parseTime(text) else {
                throw ValidationError("--at '\(text)': give seconds (90), mm:ss (1:30) or h:mm:ss (1:02:03)")
            }
            at = t
        }
        json = a.flag("--json")
        progress = try a.choice("--progress", default: CaptionCommand.ProgressMode.auto)
        if progress == .json { throw ValidationError("--progress: use auto, bar or none (--json prints the answer)") }
        model = try ModelOptions(a)
        preset = try ModelArguments.preset(a)
        precision = try a.choice("--precision", default: Precision.auto)
        threads = try a.int("--threads", default: 2, in: 1...256)
        arguments = a
        _ = try SessionArguments.configuration(a)
    }

    /// Seconds from "90", "90.5", "1:30", "01:02:03" (nil when malformed or negative).
    static func parseTime(_ text: String) -> Double? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count) else { return nil }
        var total = 0.0
        for (i, p) in parts.enumerated() {
            guard let v = Double(p), v.isFinite, v >= 0 else { return nil }
            // Minutes and seconds after the first field stay below 60.
            if i > 0 && v >= 60 { return nil }
            total = total * 60 + v
        }
        return total
    }

    func run() async throws {
        guard FileManager.default.fileExists(atPath: file) else {
            throw SessionArgumentError("'\(file)': no such file; give the path of a recording")
        }
        var configuration = try SessionArguments.configuration(arguments)
        _ = ComputeScheduler.shared(threads: threads)  // the process's compute threads, before any model work
        let vlm = try await ModelArguments.loadVision(
            options: preset == nil ? model : nil, preset: preset, precision: precision, purpose: "vigil ask")
        configuration.pruner.keep = min(configuration.pruner.keep, vlm.tokensPerFrame)
        let mode: CaptionCommand.ProgressMode = progress == .auto ? (Console.stderrIsTerminal ? .bar : .none) : progress
        let display = CaptionProgressDisplay(mode: mode, files: 1)
        let name = (file as NSString).lastPathComponent
        let started = DispatchTime.now()
        let updates = try await FileQuestion(
            file: file, question: question, at: at, model: vlm, configuration: configuration
        ).answer(onProgress: { p in display.update(name + " (memory)", p) })
        if mode == .bar { Console.write("\r\u{1B}[K", to: 2) }

        var finished: AnswerEvent?
        for await update in updates {
            if Interruption.isRequested { throw ExitRequest(.interrupted) }
            switch update {
            case .started:
                break
            case .text(let piece):
                if !json { Console.out(piece) }
            case .finished(let event):
                finished = event
            }
        }
        guard let answer = finished else { throw ExitRequest(.interrupted) }
        if let error = answer.error {
            if !json { Console.outLine("") }
            throw SessionArgumentError("'\(file)': the question could not be answered: \(error)")
        }
        let wall = started.secondsElapsed
        if json {
            guard case .object(var fields) = VigilEvent.answer(answer).json else { return }
            fields.append(("wall_s", .double(wall)))
            Console.json(.object(fields))
        } else {
            Console.outLine("")
            Console.errLine(Self.footer(answer))
        }
    }

    /// `asked at 10:00 · ttft 0.41 s · 2.30 s · 31 tokens · evidence 09:30–10:00, 09:44–10:00`.
    static func footer(_ a: AnswerEvent) -> String {
        var line = "asked at \(WatchView.clock(a.askedAt)) · ttft \(WatchView.seconds(a.ttftMs / 1000))"
        line += " · \(WatchView.seconds(a.totalMs / 1000))"
        if let tokens = a.tokens { line += " · \(tokens) tokens" }
        let spans = a.evidence.map { WatchView.clock($0.start) + "–" + WatchView.clock($0.end) }
        line += " · evidence " + (spans.isEmpty ? "none" : spans.joined(separator: ", "))
        return line
    }
}
