// `vigil caption <files|dirs|globs…>`: batch captioning of recordings into SRT, WebVTT, JSONL and text files
// (docs/captioning.md). Each input is read as fast as the model goes; every finished caption or summary is appended
// to a journal beside the outputs (fsync'd), so a `kill -9` loses nothing finished and a rerun resumes where it
// stopped; outputs are written atomically at the end. Inputs already complete are skipped. A bad input is one line
// on standard error and the run carries on; the exit status says whether any failed. SIGINT stops at the next clip,
// writes what is done (the journal stays for the resume) and exits 130.

import Foundation
import Kernels
import MediaIngest
import Memory
import SmolVLM
import Streaming
import Synchronization
import VigilCore

struct CaptionCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "caption",
        abstract: "Caption recordings into SRT, WebVTT, JSONL and text, resumably.",
        discussion: """
            Every --clip-seconds of media gets a caption written from a few of its frames (--fps), every \
            --segment-seconds a summary of those captions, and the whole recording a running summary. Outputs go \
            beside each input (or to -o DIR) as NAME.srt, .vtt, .jsonl, .txt. A journal (NAME.vigil-journal) makes \
            the work crash-safe: rerun the same command to resume; inputs whose outputs are complete are skipped \
            (--force redoes them). The caption prompt is pipelines/prompts/clip-caption.txt (or --prompt FILE).
            """,
        arguments: [
            .positional("inputs", help: "Video files, folders of videos, or glob patterns.", repeatable: true),
            .option("--format", short: "-f", value: "LIST", help: "srt,vtt,jsonl,txt or all.", default: "all"),
            .option("--output-dir", short: "-o", value: "DIR", help: "Where the outputs go.", default: "beside each input"),
            .flag(
                "--recursive", short: "-r",
                help: "Also caption the videos in subfolders of folder inputs (with -o, outputs mirror the subfolders)."),
            .flag("--skip-existing", help: "Skip inputs whose outputs are complete (the default; kept for scripts)."),
            .flag("--force", help: "Caption inputs again even when their outputs are complete."),
            .option("--jobs", value: "N", help: "Inputs captioned at once (they share the compute threads).", default: "1"),
            .option("--fps", value: "F", help: "Frames sampled per second of media.", default: "0.2"),
            .option("--clip-seconds", value: "S", help: "Media seconds per caption.", default: "30"),
            .option("--segment-seconds", value: "S", help: "Media seconds per segment summary.", default: "300"),
            .option("--frames-per-clip", value: "N", help: "Most frames a caption looks at.", default: "6"),
            .option("--prompt", value: "FILE", help: "The clip caption prompt.", default: "pipelines/prompts/clip-caption.txt"),
            .option("--pipeline", value: "NAME|FILE", help: "A preset for the vision settings (cache-interval, …)."),
            .option("--cache-interval", value: "N", help: "STC-Cacher: a full frame every N frames.", default: "2"),
            .option("--keep-tokens", value: "K", help: "STC-Pruner: visual tokens kept per frame.", default: "48"),
            .option("--progress", value: "MODE", help: "auto (a line on a terminal), bar, json (lines on stdout) or none.", default: "auto"),
            .flag("--timings", help: "Put wall-clock times and latencies in the JSONL (then reruns differ in those)."),
        ] + ModelOptions.specs + ModelArguments.randomWeightsSpecs + ModelArguments.computeSpecs(defaultPrecision: .auto),
        examples: [
            "vigil caption recordings/ -f srt,vtt -o captions/",
            "vigil caption 'night/*.mp4' --jobs 2 --progress json",
            "vigil caption lecture.mp4 --clip-seconds 60 --prompt my-prompt.txt",
        ])

    enum ProgressMode: String, CaseIterable { case auto, bar, json, none }

    var inputs: [String]
    var formats: [CaptionFormat]
    var outputDirectory: String?
    var recursive: Bool
    var force: Bool
    var jobs: Int
    var settings: CaptionSettings
    var promptFile: String?
    var progress: ProgressMode
    var timings: Bool
    var model: ModelOptions
    var preset: ModelPreset?
    var precision: Precision
    var threads: Int

    init(_ a: ParsedArguments) throws {
        inputs = a.values("inputs")
        guard !inputs.isEmpty else { throw ValidationError("give at least one input file, folder or glob") }
        do {
            formats = try CaptionFormat.parseList(a.value("--format") ?? "all")
        } catch {
            throw ValidationError("--format: \(error.description)")
        }
        outputDirectory = a.value("--output-dir")
        recursive = a.flag("--recursive")
        force = a.flag("--force")
        if force && a.flag("--skip-existing") { throw ValidationError("give either '--force' or '--skip-existing'") }
        jobs = try a.int("--jobs", default: 1, in: 1...64)
        var s = CaptionSettings()
        if let name = a.value("--pipeline") {
            var session = SessionConfiguration()
            do throws(PipelineError) {
                try Pipeline.load(name).apply(to: &session)
            } catch {
                throw SessionArgumentError(error.description)
            }
            s.cacher = session.cacher
            s.pruner = session.pruner
        }
        s.fps = try a.double("--fps", default: s.fps, in: 0.01...30)
        s.schedule.clipSeconds = try a.double("--clip-seconds", default: 30, in: 1...3600)
        s.schedule.segmentSeconds = try a.double("--segment-seconds", default: 300, in: 1...86400)
        guard s.schedule.segmentSeconds >= s.schedule.clipSeconds else {
            throw ValidationError("--segment-seconds must be at least --clip-seconds")
        }
        s.framesPerClip = try a.int("--frames-per-clip", default: 6, in: 1...64)
        if a.value("--cache-interval") != nil { s.cacher.interval = try a.int("--cache-interval", default: 2, in: 1...64) }
        if a.value("--keep-tokens") != nil { s.pruner.keep = try a.int("--keep-tokens", default: 48, in: 1...4096) }
        settings = s
        promptFile = a.value("--prompt")
        progress = try a.choice("--progress", default: ProgressMode.auto)
        timings = a.flag("--timings")
        model = try ModelOptions(a)
        preset = try ModelArguments.preset(a)
        precision = try a.choice("--precision", default: Precision.auto)
        threads = try a.int("--threads", default: 2, in: 1...256)
    }

    func run() async throws {
        var settings = self.settings
        do throws(PipelineError) {
            settings.prompts = try CaptionPrompts.load(clipFile: promptFile)
        } catch {
            throw SessionArgumentError(error.description)
        }
        if let dir = outputDirectory {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw SessionArgumentError("-o \(dir): cannot create the folder (\(error.localizedDescription))")
            }
        }
        let expanded = Self.expand(inputs, recursive: recursive)
        let files = expanded.map(\.path)
        let subfolders = Dictionary(expanded.map { ($0.path, $0.subfolder) }, uniquingKeysWith: { a, _ in a })
        func directory(for file: String) -> String? {
            CaptionFileRunner.outputDirectory(outputDirectory, subfolder: subfolders[file])
        }
        guard !files.isEmpty else { throw SessionArgumentError("no video files in \(inputs.joined(separator: " "))") }
        let scheduler = ComputeScheduler.shared(threads: threads)
        // The journal fingerprint names the model as given (the loaded model's name), so finished inputs are known
        // before any model is loaded: a rerun over captioned files does no model work at all.
        let modelName = preset?.rawValue ?? model.model
        let fingerprint = settings.fingerprint.merging(["model": modelName, "precision": precision.rawValue]) { a, _ in a }
        let identitySettings = JournalIdentity.fingerprint(fingerprint)
        let mode: ProgressMode = progress == .auto ? (Console.stderrIsTerminal ? .bar : .none) : progress
        let display = CaptionProgressDisplay(mode: mode, files: files.count)
        let shared = CaptionRunState()
        var pending: [String] = []
        for file in files {
            if !force, CaptionFileRunner.isComplete(
                file, directory: directory(for: file), formats: formats, identitySettings: identitySettings)
            {
                display.line("\((file as NSString).lastPathComponent): up to date")
                shared.outcomes.withLock { $0.append((file, .upToDate)) }
            } else {
                pending.append(file)
            }
        }
        let vlm: VisionLanguageModel? = pending.isEmpty ? nil : try await ModelArguments.loadVision(
            options: preset == nil ? model : nil, preset: preset, precision: precision, purpose: "vigil caption")
        if let vlm { settings.pruner.keep = min(settings.pruner.keep, vlm.tokensPerFrame) }
        Interruption.onInterrupt { shared.stop.store(true, ordering: .relaxed) }
        if let vlm {
            let runner = CaptionFileRunner(
                model: vlm, settings: settings, formats: formats, outputDirectory: outputDirectory,
                subfolders: subfolders, force: force,
                runDetails: timings, identitySettings: identitySettings, scheduler: scheduler, display: display)
            let work = pending
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<min(jobs, work.count) {
                    group.addTask {
                        while !shared.stop.load(ordering: .relaxed) {
                            let i = shared.next.wrappingAdd(1, ordering: .relaxed).oldValue
                            guard i < work.count else { return }
                            let outcome = await runner.caption(
                                work[i], shouldStop: { shared.stop.load(ordering: .relaxed) })
                            shared.outcomes.withLock { $0.append((work[i], outcome)) }
                        }
                    }
                }
            }
        }
        display.finish()
        let results = shared.outcomes.withLock { $0 }
        let failed = results.filter { if case .failed = $0.1 { return true } else { return false } }
        let done = results.filter { if case .captioned = $0.1 { return true } else { return false } }.count
        let skipped = results.filter { if case .upToDate = $0.1 { return true } else { return false } }.count
        if files.count > 1 || !failed.isEmpty {
            Log.info("captioned \(done), up to date \(skipped), failed \(failed.count) of \(files.count) inputs")
        }
        if shared.stop.load(ordering: .relaxed) { throw ExitRequest(.interrupted) }
        if !failed.isEmpty {
            Console.errLine("vigil: \(failed.count) of \(files.count) inputs failed:")
            for (file, outcome) in failed { if case .failed(let m) = outcome { Console.errLine("  \(file): \(m)") } }
            throw ExitRequest(.failure)
        }
    }

    /// Video extensions taken from folders.
    static let videoExtensions: Set<String> = [
        "mp4", "m4v", "mov", "mkv", "webm", "avi", "ts", "mts", "m2ts", "mpg", "mpeg", "flv", "wmv", "3gp", "ogv", "y4m",
    ]

    /// Files, folders (their video files, sorted; with `recursive`, those of their subfolders too, hidden ones
    /// left out) and glob patterns the shell did not expand; each with the subfolder it was found in below its
    /// folder input ("" otherwise), which `-o` mirrors.
    static func expand(_ inputs: [String], recursive: Bool = false) -> [(path: String, subfolder: String)] {
        var out: [(path: String, subfolder: String)] = []
        let fm = FileManager.default
        func isVideo(_ name: String) -> Bool { videoExtensions.contains((name as NSString).pathExtension.lowercased()) }
        for input in inputs {
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: input, isDirectory: &isDirectory) {
                if isDirectory.boolValue {
                    var relatives: [String]
                    if recursive {
                        relatives = (fm.enumerator(atPath: input)?.allObjects as? [String] ?? []).filter { relative in
                            !relative.split(separator: "/").contains { $0.hasPrefix(".") }
                        }
                    } else {
                        relatives = (try? fm.contentsOfDirectory(atPath: input)) ?? []
                    }
                    relatives = relatives.filter(isVideo).sorted()
                    for relative in relatives {
                        let path = (input as NSString).appendingPathComponent(relative)
                        var isFolder: ObjCBool = false
                        guard fm.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
                        out.append((path, (relative as NSString).deletingLastPathComponent))
                    }
                } else {
                    out.append((input, ""))
                }
            } else if input.contains("*") || input.contains("?") || input.contains("[") {
                var g = glob_t()
                defer { globfree(&g) }
                if glob(input, 0, nil, &g) == 0 {
                    for i in 0..<Int(g.gl_pathc) { if let p = g.gl_pathv[i] { out.append((String(cString: p), "")) } }
                }
            } else {
                out.append((input, ""))  // reported as missing when its turn comes
            }
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0.path).inserted }
    }
}

/// What the parallel workers of a caption run share.
final class CaptionRunState: Sendable {
    let stop = Atomic<Bool>(false)
    let next = Atomic<Int>(0)
    let outcomes = Mutex<[(String, CaptionFileOutcome)]>([])
}

/// How one input ended.
enum CaptionFileOutcome: Sendable {
    case captioned(CaptionReport)
    case upToDate
    case interrupted
    case failed(String)
}

/// Captions one input with its journal and outputs.
struct CaptionFileRunner: Sendable {
    let model: VisionLanguageModel
    let settings: CaptionSettings
    let formats: [CaptionFormat]
    let outputDirectory: String?
    /// Each input's subfolder below its folder input (`--recursive`), mirrored under `outputDirectory`.
    let subfolders: [String: String]
    let force: Bool
    let runDetails: Bool
    let identitySettings: String
    let scheduler: ComputeScheduler
    let display: CaptionProgressDisplay

    /// Where an input's outputs go: `base` (nil: beside the input), or its `subfolder` below `base`.
    static func outputDirectory(_ base: String?, subfolder: String?) -> String? {
        guard let base, let subfolder, !subfolder.isEmpty else { return base }
        return (base as NSString).appendingPathComponent(subfolder)
    }

    func caption(_ file: String, shouldStop: @escaping @Sendable () -> Bool) async -> CaptionFileOutcome {
        let name = (file as NSString).lastPathComponent
        do {
            guard FileManager.default.fileExists(atPath: file) else {
                throw SessionArgumentError("\(file): no such file")
            }
            _ = try probe(file)  // not a video: a clear error before any work
            let directory = Self.outputDirectory(outputDirectory, subfolder: subfolders[file])
            if let directory, directory != outputDirectory {
                do {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                } catch {
                    throw SessionArgumentError("-o \(directory): cannot create the folder (\(error.localizedDescription))")
                }
            }
            let outputs = CaptionOutputs(input: file, directory: directory, formats: formats)
            let identity = try JournalIdentity.of(inputAt: file, settings: identitySettings)
            var state = try Self.state(of: outputs, identity: identity)
            if force, case .complete = state { state = .start }
            var done: [TextMemoryEntry] = []
            let journal: CaptionJournal
            switch state {
            case .complete:
                display.line("\(name): up to date")
                return .upToDate
            case .writeOutputs(let contents):
                try write(outputs, contents.entries, duration: nil)
                try outputs.removeJournal()
                display.line("\(name): outputs written from its journal")
                return .upToDate
            case .resume(let contents):
                (journal, _) = try CaptionJournal.resume(at: outputs.journalPath, identity: identity)
                done = contents.entries
                display.line("\(name): resuming at \(MediaTime(seconds: contents.resumeTime))")
            case .start:
                journal = try CaptionJournal.create(at: outputs.journalPath, identity: identity)
            }
            let job = CaptionJob(model: model, source: file, settings: settings, resumeWith: done, scheduler: scheduler)
            let report = try await job.run(
                onEntry: { entry in try journal.append(entry) },
                onProgress: { p in display.update(name, p) }, shouldStop: shouldStop)
            if report.stoppedEarly {
                try write(outputs, report.entries, duration: nil)
                journal.close()
                display.line("\(name): stopped at \(MediaTime(seconds: report.entries.map(\.end).max() ?? 0)); rerun to resume")
                return .interrupted
            }
            try journal.markFinished()
            try write(outputs, report.entries, duration: report.duration)
            journal.close()
            try outputs.removeJournal()
            display.done(name, report)
            return .captioned(report)
        } catch {
            let message = (error as? any UserFacingError)?.description ?? "\(error)"
            Log.error(message.hasPrefix(file) || message.contains(file) ? message : "\(file): \(message)")
            return .failed(message)
        }
    }

    /// Whether `file`'s outputs are complete for these settings (false on any doubt: the full path decides).
    static func isComplete(
        _ file: String, directory: String?, formats: [CaptionFormat], identitySettings: String
    ) -> Bool {
        guard FileManager.default.fileExists(atPath: file),
            let identity = try? JournalIdentity.of(inputAt: file, settings: identitySettings),
            let state = try? CaptionOutputs(input: file, directory: directory, formats: formats).state(identity: identity),
            case .complete = state
        else { return false }
        return true
    }

    /// What is left to do; a journal of another input or other settings is replaced (with a warning).
    private static func state(of outputs: CaptionOutputs, identity: JournalIdentity) throws(MemoryError) -> CaptionJobState {
        do {
            return try outputs.state(identity: identity)
        } catch {
            guard error.code == "foreign_journal" else { throw error }
            Log.warning("\(outputs.journalPath): made by another input or other settings; starting over")
            return .start
        }
    }

    private func write(_ outputs: CaptionOutputs, _ entries: [TextMemoryEntry], duration: Double?) throws {
        try outputs.write(entries, options: CaptionWriter.Options(mediaDuration: duration, runDetails: runDetails))
    }
}

/// Progress on standard error (a redrawn line on a terminal) or as JSON lines on standard output.
final class CaptionProgressDisplay: Sendable {
    let mode: CaptionCommand.ProgressMode
    let files: Int
    private let lastDraw = Mutex<Double>(0)

    init(mode: CaptionCommand.ProgressMode, files: Int) {
        self.mode = mode
        self.files = files
    }

    func update(_ name: String, _ p: CaptionProgress) {
        let now = MonotonicSeconds.now
        let due = lastDraw.withLock { last -> Bool in
            guard now - last >= (mode == .json ? 1 : 0.2) else { return false }
            last = now
            return true
        }
        guard due else { return }
        switch mode {
        case .bar:
            Console.write("\r\u{1B}[K" + Self.line(name, p), to: 2)
        case .json:
            Console.json(.object([
                ("type", .string("progress")), ("file", .string(name)), ("media_s", .double(p.mediaTime)),
                ("duration_s", .double(p.duration)), ("speed_x", .double(p.speed)),
                ("eta_s", .double(Self.eta(p))), ("entries", .int(p.entries)),
            ]))
        case .none, .auto:
            break
        }
    }

    /// `clip.mp4  12:34/45:00  27%  3.1× realtime  ETA 10:24`.
    static func line(_ name: String, _ p: CaptionProgress) -> String {
        var s = name + "  " + WatchView.clock(p.mediaTime)
        if let d = p.duration, d > 0 {
            s += "/" + WatchView.clock(d) + "  " + String(Int((p.mediaTime / d * 100).rounded(.down))) + "%"
        }
        if p.speed > 0 { s += "  " + String(format: "%.1f× realtime", p.speed) }
        if let eta = eta(p) { s += "  ETA " + WatchView.clock(eta) }
        return s
    }

    static func eta(_ p: CaptionProgress) -> Double? {
        guard let d = p.duration, p.speed > 0 else { return nil }
        return max(0, d - p.mediaTime) / p.speed
    }

    func line(_ text: String) {
        switch mode {
        case .bar: Console.write("\r\u{1B}[K" + text + "\n", to: 2)
        case .json: Console.json(.object([("type", .string("note")), ("message", .string(text))]))
        case .none, .auto: break
        }
    }

    func done(_ name: String, _ r: CaptionReport) {
        let speed = r.wallSeconds > 0 ? r.duration / r.wallSeconds : 0
        switch mode {
        case .bar:
            Console.write(
                "\r\u{1B}[K" + name + "  " + WatchView.clock(r.duration) + "  done  "
                    + String(format: "%.1f× realtime, %d entries", speed, r.entries.count) + "\n", to: 2)
        case .json:
            Console.json(.object([
                ("type", .string("done")), ("file", .string(name)), ("duration_s", .double(r.duration)),
                ("wall_s", .double(r.wallSeconds)), ("speed_x", .double(speed)), ("entries", .int(r.entries.count)),
            ]))
        case .none, .auto: break
        }
    }

    func finish() {}
}

/// Monotonic seconds (progress throttling).
enum MonotonicSeconds {
    static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
