// `vigil watch <source>`: a live session at the terminal. Status and commentary scroll above an input line; a typed
// line is a question about the stream as it is at that moment, answered while the stream keeps running (the answer
// shows the media time it was asked at, time to first token, total time and the evidence window). `/status`,
// `/help`, `/quit`; Ctrl-C quits cleanly with a last status.
//
// Scripting: when standard input is not a terminal, each line read is a question asked at the media time it is
// read; the command ends when input has ended, the source has ended and every answer is out (a live source keeps
// running until interrupted). `--events FILE|-` writes every event (segment, answer, status, error: schema C2) as a
// JSON line, flushed per event; with `-` the events own standard output and the human text goes to standard error.

import Foundation
import Kernels
import MediaIngest
import Memory
import SmolVLM
import Streaming
import Synchronization
import VigilCore

struct WatchCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "watch",
        abstract: "Watch a stream or a file and answer questions about it while it runs.",
        discussion: """
            Frames are sampled (--fps), encoded by the vision tower with temporal caching (STC-Cacher: \
            --cache-interval, --update-ratio), pruned to the most novel tokens (STC-Pruner: --keep-tokens) and \
            appended to a bounded KV cache (a pinned sink with the instruction, aged text, a window of recent \
            frames: --window, --max-positions). Type a question at any time; it is answered against the stream as \
            it was when you asked. Commands: /status, /help, /quit. Files run as fast as the model goes unless \
            --realtime; network sources are live. docs/streaming.md explains every setting.
            """,
        arguments: [.positional("source", help: "A file, rtsp:// or http(s):// URL, or - for standard input.")]
            + ModelOptions.specs + ModelArguments.randomWeightsSpecs
            + ModelArguments.computeSpecs(defaultPrecision: .auto) + [
                .option(
                    "--events", value: "FILE|-",
                    help: "Write every event as a JSON line to FILE, or to standard output with -."),
                .flag("--quiet", short: "-q", help: "No status lines (answers and commentary only)."),
            ] + SessionArguments.persistenceSpecs + SessionArguments.specs,
        examples: [
            "vigil watch rtsp://camera.local/stream --model HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
            "vigil watch clip.mp4 --realtime --pipeline realtime-cpu",
            "printf 'what is happening?\\n' | vigil watch clip.mp4 --realtime --events -",
        ])

    var source: String
    var model: ModelOptions
    var preset: ModelPreset?
    var precision: Precision
    var threads: Int
    var eventsPath: String?
    var quiet: Bool
    var arguments: ParsedArguments

    init(_ a: ParsedArguments) throws {
        source = try a.required("source")
        model = try ModelOptions(a)
        preset = try ModelArguments.preset(a)
        precision = try a.choice("--precision", default: Precision.auto)
        threads = try a.int("--threads", default: 2, in: 1...256)
        eventsPath = a.value("--events")
        quiet = a.flag("--quiet")
        arguments = a
        _ = try SessionArguments.configuration(a)  // reject bad values before loading the model
        _ = try SessionArguments.persistentSession(a)
    }

    func run() async throws {
        var configuration = try SessionArguments.configuration(arguments)
        configuration.persistentSession = try SessionArguments.persistentSession(arguments)
        let scheduler = ComputeScheduler.shared(threads: threads)
        let vlm = try await ModelArguments.loadVision(
            options: preset == nil ? model : nil, preset: preset, precision: precision, purpose: "vigil watch")
        let session = try LiveSession(model: vlm, source: source, configuration: configuration, scheduler: scheduler)

        // Where things go: events to a file or stdout; human text to the terminal (or stderr when stdout is events).
        let eventsToStdout = eventsPath == "-"
        let eventSink: EventSink? = try eventsPath.map { try EventSink(path: $0) }
        let terminal = WatchTerminal.make(humanToStderr: eventsToStdout)
        let view = WatchView(terminal: terminal, session: session, quiet: quiet)

        // Subscribe before the session starts, so no event is missed.
        let forFile = eventSink == nil ? nil : session.events.subscribe()
        let forDisplay = session.events.subscribe()
        let eventTask = eventSink.map { sink in
            Task.detached(priority: .high) {
                for await numbered in forFile! { sink.write(numbered.event) }
            }
        }
        let displayTask = Task.detached(priority: .high) {
            for await numbered in forDisplay { view.show(numbered.event) }
        }
        session.start()
        view.banner(model: vlm, configuration: configuration)

        let outcome = await view.interact()
        if case .interrupted = outcome { Log.info("stopping") }
        if case .sourceFailed = outcome {
            _ = await session.stop()
            terminal.close()
            displayTask.cancel()
            session.events.finish()
            await eventTask?.value
            throw ExitRequest(.failure)
        }
        // A scripted run lets the stream finish before it leaves.
        if case .inputEnded = outcome, !terminal.isInteractive {
            await session.waitUntilIdle()
            await view.waitForAnswers()
        }
        let last = await session.stop()
        view.lastStatus(last)
        terminal.close()
        displayTask.cancel()
        // Let the event writer drain what was published before stopping.
        try? await Task.sleep(nanoseconds: 50_000_000)
        session.events.finish()
        await eventTask?.value
        if case .interrupted = outcome { throw ExitRequest(.interrupted) }
        if last.state == .failed {
            throw ExitRequest(.failure)
        }
    }
}

// MARK: - Events file

/// Writes events as JSON lines, one write(2) per event (nothing buffered in the process).
final class EventSink: Sendable {
    private let fd: Int32
    private let closes: Bool

    init(path: String) throws {
        if path == "-" {
            fd = 1
            closes = false
        } else {
            let opened = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard opened >= 0 else {
                throw SessionArgumentError(
                    "--events \(path): cannot open for writing (\(String(cString: strerror(errno)))); "
                        + "check the folder exists and is writable")
            }
            fd = opened
            closes = true
        }
    }

    deinit { if closes { close(fd) } }

    func write(_ event: VigilEvent) {
        Console.write(event.json.serialized() + "\n", to: fd)
    }
}

// MARK: - The terminal

/// The human side of `watch`: lines in, text out.
final class WatchTerminal: @unchecked Sendable {
    /// Whether a person is typing (a terminal), not a script.
    let isInteractive: Bool
    private let outputFD: Int32
    private let lineStream: AsyncStream<String>
    private let editor: LineEditor?

    private init(isInteractive: Bool, outputFD: Int32, lines: AsyncStream<String>, editor: LineEditor?) {
        self.isInteractive = isInteractive
        self.outputFD = outputFD
        lineStream = lines
        self.editor = editor
    }

    /// A line editor when standard input and output are terminals (and output is not the event stream), else plain
    /// lines from standard input.
    static func make(humanToStderr: Bool) -> WatchTerminal {
        if !humanToStderr, LineEditor.isAvailable,
            let editor = try? LineEditor(prompt: "> ", historyFile: LineEditor.defaultHistoryFile)
        {
            return WatchTerminal(isInteractive: true, outputFD: 1, lines: editor.lines, editor: editor)
        }
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let thread = Thread {
            while let line = readLine(strippingNewline: true) { continuation.yield(line) }
            continuation.finish()
        }
        thread.name = "vigil-watch-input"
        thread.start()
        return WatchTerminal(
            isInteractive: isatty(0) == 1, outputFD: humanToStderr ? 2 : 1, lines: stream, editor: nil)
    }

    var lines: AsyncStream<String> { lineStream }

    /// Text above the input line (or to the output descriptor): streamed answers, any mix of partial lines.
    func write(_ text: String) {
        if let editor { editor.write(text) } else { Console.write(text, to: outputFD) }
    }

    /// Whole lines above the input line that never land inside a streaming answer (status, events).
    func writeLines(_ text: String) {
        guard let editor else { return Console.write(text, to: outputFD) }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            editor.writeStatus(String(line))
        }
    }

    func setPrompt(_ prompt: String) { editor?.setPrompt(prompt) }

    func close() { editor?.close() }
}

// MARK: - What the person sees

/// Renders events and answers, and runs the input loop.
final class WatchView: Sendable {
    enum Outcome {
        case quit, inputEnded, interrupted, sourceFailed
    }

    let terminal: WatchTerminal
    let session: LiveSession
    let quiet: Bool
    private let answers = Mutex<[Task<Void, Never>]>([])
    /// Ends the input loop early (the source failed).
    private let stopSignal = Mutex<AsyncStream<Outcome>.Continuation?>(nil)

    init(terminal: WatchTerminal, session: LiveSession, quiet: Bool) {
        self.terminal = terminal
        self.session = session
        self.quiet = quiet
    }

    func banner(model: VisionLanguageModel, configuration: SessionConfiguration) {
        guard !quiet else { return }
        let c = configuration
        terminal.writeLines(
            "vigil watch \(session.name) · \(model.name) (\(model.precision.rawValue)) · \(Self.number(c.fps)) fps · "
                + "cacher N=\(c.cacher.interval) r=\(Self.number(c.cacher.updateRatio)) · keep \(c.pruner.keep) tokens · "
                + "window \(Self.number(c.budget.visionWindowSeconds)) s\n"
                + (terminal.isInteractive ? "Type a question and press Enter; /help for commands.\n" : ""))
    }

    /// Reads lines until /quit, the end of input, or Ctrl-C.
    func interact() async -> Outcome {
        let interrupted = Atomic<Bool>(false)
        let lines = terminal.lines
        let (stop, stopContinuation) = AsyncStream<Outcome>.makeStream()
        stopSignal.withLock { $0 = stopContinuation }
        if session.status.state == .failed { stopContinuation.yield(.sourceFailed) }
        Interruption.onInterrupt {
            interrupted.store(true, ordering: .relaxed)
            stopContinuation.yield(.interrupted)
        }
        let reader = Task {
            for await line in lines {
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                if text.hasPrefix("/") {
                    if await handleCommand(text) { stopContinuation.yield(.quit); return }
                    continue
                }
                if Self.asksForSimilar(text) {
                    _ = await handleCommand("/similar")
                    continue
                }
                if QuestionClass.of(text) == .standing {
                    let id = session.watchFor(text)
                    terminal.writeLines("· watching for “\(StandingQuestion.condition(from: text))” (\(id)); /standing lists, /cancel \(id) stops\n")
                    continue
                }
                ask(text)
            }
            stopContinuation.yield(.inputEnded)
        }
        var outcome = Outcome.inputEnded
        for await o in stop {
            outcome = o
            break
        }
        reader.cancel()
        return interrupted.load(ordering: .relaxed) ? .interrupted : outcome
    }

    /// Runs a slash command; true to quit.
    private func handleCommand(_ text: String) async -> Bool {
        let word = text.split(separator: " ").first.map(String.init) ?? text
        let rest = text.dropFirst(word.count).trimmingCharacters(in: .whitespaces)
        switch word {
        case "/watch-for":
            guard !rest.isEmpty else {
                terminal.writeLines("usage: /watch-for CONDITION (e.g. /watch-for a person is at the door)\n")
                return false
            }
            let id = session.watchFor(rest)
            terminal.writeLines("· watching for “\(StandingQuestion.condition(from: rest))” (\(id))\n")
        case "/standing":
            let list = await session.standingQuestions()
            if list.isEmpty { terminal.writeLines("no standing questions; /watch-for CONDITION adds one\n") }
            for q in list {
                let state = q.state == .fired ? "fired at \(Self.clock(q.firedAt ?? 0))" : q.state.rawValue
                terminal.writeLines("  \(q.id)  \(q.condition)  — \(state), \(q.checks) checks, \(q.skipped) skipped\n")
            }
        case "/cancel":
            let ok = await session.cancelStanding(rest)
            terminal.writeLines(ok ? "· \(rest) cancelled\n" : "no watching standing question \(rest); /standing lists them\n")
        case "/similar":
            let moments = session.similarMoments()
            if moments.isEmpty {
                terminal.writeLines("no earlier moment to compare with yet (the feature memory needs frames older than 30 s)\n")
            } else {
                let list = moments.map { "\(Self.clock($0.time)) (\(String(format: "%.2f", $0.score)))" }
                terminal.writeLines("· this scene looks most like: " + list.joined(separator: ", ") + "\n")
            }
        case "/quit", "/exit", "/q":
            return true
        case "/status":
            terminal.writeLines(Self.describe(session.status, detailed: true))
        case "/help", "/?":
            terminal.writeLines(
                """
                Type a question and press Enter: it is answered about the stream as it is now.
                  /status            frames, lag, drops, KV cache, cacher and pruner figures, memory
                  /watch-for COND    tell me when COND holds (also: a line starting "tell me when …")
                  /standing          the standing questions;  /cancel ID  stops one
                  /similar           earlier moments that look like now (also: "when did this appear before?")
                  /help              this text
                  /quit              stop watching (also Ctrl-D or Ctrl-C)

                """)
        default:
            terminal.writeLines("unknown command \(word); /help lists them\n")
        }
        return false
    }

    /// Whether a line asks for earlier moments like the present one ("show me when this scene appeared before").
    static func asksForSimilar(_ text: String) -> Bool {
        let t = " " + text.lowercased() + " "
        let this = [" this scene", " this view", " this ", " it "].contains { t.contains($0) }
        let before = [" before", " earlier", " previously", " already"].contains { t.contains($0) }
        let seen = [" appear", " seen ", " see this", " show up", " showed up", " happened", " looked like"].contains { t.contains($0) }
        return this && before && seen && (t.contains(" when ") || t.contains("show me") || t.contains("have i"))
    }

    /// Asks `question` and streams its answer.
    private func ask(_ question: String) {
        let updates = session.ask(question)
        let terminal = self.terminal
        let task = Task.detached(priority: .high) {
            for await update in updates {
                switch update {
                case .started(_, let askedAt):
                    terminal.writeLines("? \(question)  [asked at \(Self.clock(askedAt))]\n")
                case .text(let piece):
                    terminal.write(piece)
                case .finished(let answer):
                    if let error = answer.error {
                        terminal.write("! \(error)\n")
                    } else {
                        let seen = answer.evidence.map { "\(Self.clock($0.start))–\(Self.clock($0.end))" }
                            .joined(separator: ", ")
                        terminal.write(
                            "\n  ttft \(Self.seconds(answer.ttftMs / 1000)) · total \(Self.seconds(answer.totalMs / 1000))"
                                + " · seen \(seen.isEmpty ? "nothing yet" : seen)\n")
                    }
                }
            }
        }
        answers.withLock { $0.append(task) }
    }

    /// Waits for every answer asked so far to be shown.
    func waitForAnswers() async {
        let tasks = answers.withLock { $0 }
        for t in tasks { await t.value }
    }

    /// Renders one session event for a person: source state changes, errors, commentary, and (unless quiet)
    /// the session's periodic status line. Answers are shown by whoever asked.
    func show(_ event: VigilEvent) {
        switch event {
        case .status(let s):
            if s.session == nil {
                // The ingest's own state changes.
                switch s.state {
                case .reconnecting:
                    terminal.writeLines("· \(s.source): reconnecting\(s.detail.map { " (\($0))" } ?? "")\n")
                case .failed:
                    _ = stopSignal.withLock { $0?.yield(.sourceFailed) }
                case .ended:
                    terminal.writeLines(
                        "· \(s.source): ended at \(Self.clock(s.mediaTime ?? 0))"
                            + (terminal.isInteractive ? "; ask about it, or /quit\n" : "\n"))
                case .live, .connecting:
                    if let detail = s.detail, !quiet { terminal.writeLines("· \(s.source): \(detail)\n") }
                }
            } else if !quiet && (s.state == .live || s.state == .connecting) {
                terminal.writeLines(Self.describe(session.status, detailed: false))
            }
        case .error(let source, _, let message, let retryIn):
            if let retryIn {
                terminal.writeLines("! \(source): \(message) (retrying in \(Self.seconds(retryIn)))\n")
            } else {
                Log.error(message)  // the source is lost: standard error, whatever else is on standard output
            }
        case .segment(let s):
            terminal.writeLines("[\(Self.clock(s.end))] \(s.text)\n")
        case .answer:
            break
        case .alert(let a):
            terminal.writeLines("! [\(Self.clock(a.at))] \(a.condition) (standing question \(a.id))\n")
        }
    }

    func lastStatus(_ status: SessionStatus) {
        terminal.writeLines(Self.describe(status, detailed: true))
    }

    // MARK: Formatting

    static func describe(_ s: SessionStatus, detailed: Bool) -> String {
        let c = s.counters
        let e = s.engine
        let saved = Int((e.visionFLOPsSaved * 100).rounded())
        var line = "· \(clock(s.mediaTime ?? 0)) \(s.state.rawValue) · \(number(c.processedFPS)) fps processed"
        line += " · lag \(seconds(s.lagSeconds)) · dropped \(s.framesDropped) · kv \(s.kvTokens)"
        line += " · saved \(saved)% vision FLOPs\n"
        guard detailed else { return line }
        let kinds = s.kvByKind.filter { $0.1 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
        let kept = e.tokensSeen > 0 ? Int((Double(e.tokensKept) / Double(e.tokensSeen) * 100).rounded()) : 100
        var out = line
        out += "  frames: \(s.framesDecoded) decoded, \(s.framesSampled) sampled, \(e.framesEncoded) encoded, "
        out += "\(e.framesCommitted) in the cache; dropped \(s.framesDroppedIngest) at ingest, "
        out += "\(c.framesDroppedLag) behind, \(e.framesSkippedForRoom) for room\n"
        out += "  vision: \(seconds(e.visionSecondsPerFrame))/frame, \(e.referenceFrames) reference frames, "
        out += "\(saved)% FLOPs saved; pruner keeps \(kept)% of tokens\n"
        out += "  kv: \(s.kvTokens) tokens (\(kinds)); \(s.evictedBlocks) blocks evicted; retrieval store "
        out += "\(s.retrievalBlocks) blocks (\(s.retrievalReservedBytes >> 20) MiB reserved)\n"
        out += "  questions: \(c.questionsAnswered) answered, \(s.questionsPending) waiting"
        out += (c.lastTTFT.map { "; last ttft \(seconds($0))" } ?? "") + "\n"
        out += "  memory: \(ProcessMemory.residentBytes >> 20) MiB resident\n"
        return out
    }

    /// mm:ss, or h:mm:ss past an hour.
    static func clock(_ t: Double) -> String {
        let total = Int(max(0, t.isFinite ? t : 0))
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        let mmss = (m < 10 ? "0" : "") + "\(m):" + (s < 10 ? "0" : "") + "\(s)"
        return h > 0 ? "\(h):" + mmss : mmss
    }

    static func seconds(_ v: Double) -> String { String(format: v < 10 ? "%.2f s" : "%.1f s", v) }

    static func number(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: "%.2g", v)
    }
}
