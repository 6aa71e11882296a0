// Batch captioning of one recording (`vigil caption`, streaming brief M10 and the memory brief's text levels): the
// file is read as fast as the model goes (nothing dropped), a few frames of each clip are encoded (vision with
// STC-Cacher, connector, STC-Pruner), and each finished clip becomes a caption, each segment a summary, each summary
// a new stream summary — handed to `onEntry` as soon as it exists (the CLI appends it to a journal, fsync'd).
//
// Resumable: given the entries of an interrupted run, frames before the resume point are decoded but not encoded,
// and every clip starts with fresh cacher and pruner state, so a resumed run writes exactly what an uninterrupted
// one would. Runs on the compute thread (an actor on the ComputeScheduler), yielding between frames and tokens.

import Foundation
import Kernels
import MediaIngest
import Memory
import SmolVLM
import VigilCore

/// Settings of batch captioning.
public struct CaptionSettings: Sendable, Equatable {
    /// Frames sampled per second of media (default 0.2: six frames per 30-s clip).
    public var fps: Double = 0.2
    /// Most frames a clip caption looks at (chosen uniformly among the clip's frames).
    public var framesPerClip = 6
    public var schedule = TextMemorySchedule()
    public var cacher = CacherSettings()
    public var pruner = PrunerSettings()
    public var prompts = CaptionPrompts.builtIn

    public init() {}

    /// Everything that changes the entries, for the journal's fingerprint.
    public var fingerprint: [String: String] {
        [
            "fps": "\(fps)", "frames_per_clip": "\(framesPerClip)", "clip_s": "\(schedule.clipSeconds)",
            "segment_s": "\(schedule.segmentSeconds)", "caps": "\(schedule.clipTokens)/\(schedule.segmentTokens)/\(schedule.summaryTokens)",
            "cacher": "\(cacher.interval)/\(cacher.updateRatio)/\(cacher.cutKeyCosine)/\(cacher.cutPatchFraction)",
            "keep": "\(pruner.keep)/\(pruner.alpha)/\(pruner.window)",
            "prompts": prompts.clip + "\u{1}" + prompts.segment + "\u{1}" + prompts.summary,
        ]
    }
}

/// Where a caption job is.
public struct CaptionProgress: Sendable {
    /// Media seconds read so far, and the duration when known.
    public var mediaTime: Double
    public var duration: Double?
    /// Wall seconds since the job started, and media seconds processed (not skipped for a resume) in them.
    public var wallSeconds: Double
    public var processedMedia: Double
    public var entries: Int
    /// Media seconds per wall second of the processed part.
    public var speed: Double { wallSeconds > 0 ? processedMedia / wallSeconds : 0 }
}

/// What a caption job did.
public struct CaptionReport: Sendable {
    public var entries: [TextMemoryEntry]
    public var duration: Double
    public var framesEncoded: Int
    public var framesSkipped: Int
    public var wallSeconds: Double
    public var visionSeconds: Double
    public var captionSeconds: Double
    /// Of `captionSeconds`, the part spent on clip captions (the rest: segment and stream summaries).
    public var clipCaptionSeconds: Double = 0
    public var visionFLOPs: Double
    public var visionFullFLOPs: Double
    public var tokensKept: Int
    public var tokensSeen: Int
    /// Stopped early by the caller (SIGINT).
    public var stoppedEarly: Bool
}

/// Captions one recording.
public actor CaptionJob {
    public nonisolated let source: String
    public nonisolated let settings: CaptionSettings
    nonisolated let scheduler: ComputeScheduler
    public nonisolated var unownedExecutor: UnownedSerialExecutor { scheduler.asUnownedSerialExecutor() }

    let model: VisionLanguageModel
    let context = ComputeContext()
    let vision: CachedFrameEncoder
    let pruner: TokenPruner
    let captioner: Captioner
    let memory: TextMemory
    let frameTokens: Tensor

    public init(
        model: VisionLanguageModel, source: String, settings: CaptionSettings, resumeWith entries: [TextMemoryEntry] = [],
        scheduler: ComputeScheduler = .shared()
    ) {
        self.model = model
        self.source = source
        self.settings = settings
        self.scheduler = scheduler
        vision = CachedFrameEncoder(model: model.model, settings: settings.cacher)
        pruner = TokenPruner(
            settings: settings.pruner, tokensPerFrame: model.tokensPerFrame, width: model.model.decoder.config.hiddenSize)
        captioner = Captioner(model: model, prompts: settings.prompts, schedule: settings.schedule, context: context)
        memory = TextMemory(schedule: settings.schedule, entries: entries)
        frameTokens = Tensor(zeros: [model.tokensPerFrame, model.model.decoder.config.hiddenSize])
    }

    /// Reads the source to its end (or until `shouldStop`), calling `onEntry` with each new entry in order and
    /// `onProgress` after each frame. Throws the source's error (the entries made before it were already handed out).
    ///
    /// `until`: stop at that media time, as a live session would stand there: only clips and segments that ended by
    /// then are written (no shorter final clip).
    public func run(
        until: Double? = nil, onEntry: @Sendable (TextMemoryEntry) throws -> Void,
        onProgress: @Sendable (CaptionProgress) -> Void = { _ in }, shouldStop: @Sendable () -> Bool = { false }
    ) async throws -> CaptionReport {
        let start = DispatchTime.now()
        let duration = (try? probe(source))?.duration
        var options = IngestOptions(fps: settings.fps, size: .fitWithin(2 * model.model.config.visionConfig.imageSize))
        options.queueCapacity = 4
        let stream = MediaIngest.frames(from: source, options: options)
        let processor = ImageProcessor(config: model.processor.preprocessor)
        let resumeAt = memory.captionedUntil
        var report = CaptionReport(
            entries: [], duration: duration ?? 0, framesEncoded: 0, framesSkipped: 0, wallSeconds: 0, visionSeconds: 0,
            captionSeconds: 0, visionFLOPs: 0, visionFullFLOPs: 0, tokensKept: 0, tokensSeen: 0, stoppedEarly: false)
        var clipFrames: [(time: Double, tokens: Tensor)] = []
        var lastTime = 0.0
        var firstProcessed: Double?
        // Anything an interrupted run left due (a segment whose clips were all written) comes first.
        try await summarise(final: false, onEntry: onEntry, report: &report)

        for try await frame in stream {
            let t = frame.time.seconds
            if let until, t > until {
                // A live session at `until` has exactly the clips that ended by then.
                while let due = memory.dueClip(at: until) {
                    try await caption(clipFrames, span: due, onEntry: onEntry, report: &report)
                    clipFrames.removeAll()
                    try await summarise(final: false, onEntry: onEntry, report: &report)
                }
                report.entries = memory.entries
                report.duration = until
                report.wallSeconds = start.secondsElapsed
                stream.stop()
                return report
            }
            lastTime = t
            if t < resumeAt - 1e-6 {
                report.framesSkipped += 1
                continue
            }
            // A clip that ended before this frame is captioned first.
            while let due = memory.dueClip(at: t) {
                try await caption(clipFrames, span: due, onEntry: onEntry, report: &report)
                clipFrames.removeAll()
                try await summarise(final: false, onEntry: onEntry, report: &report)
                if shouldStop() { report.stoppedEarly = true; break }
            }
            if report.stoppedEarly { break }
            if firstProcessed == nil { firstProcessed = t }
            // Each clip starts afresh, so a resumed run encodes exactly as an uninterrupted one.
            if clipFrames.isEmpty {
                vision.reset()
                pruner.reset()
            }
            let pixels = Lanczos.$runsSerially.withValue(true) { processor.processVideoFrame(frame.image).pixels }
            let v0 = DispatchTime.now()
            let r = vision.encode(pixels, into: frameTokens, context: context)
            let kept = Tensor(zeros: [pruner.keep, model.model.decoder.config.hiddenSize])
            pruner.prune(frameTokens, into: kept)
            report.visionSeconds += v0.secondsElapsed
            report.visionFLOPs += r.flops
            report.visionFullFLOPs += r.fullFLOPs
            report.framesEncoded += 1
            report.tokensKept += pruner.keep
            report.tokensSeen += model.tokensPerFrame
            clipFrames.append((t, kept))
            onProgress(
                CaptionProgress(
                    mediaTime: t, duration: duration, wallSeconds: start.secondsElapsed,
                    processedMedia: t - (firstProcessed ?? t), entries: memory.entries.count))
            await Task.yield()
        }
        if let until {
            while let due = memory.dueClip(at: until) {
                try await caption(clipFrames, span: due, onEntry: onEntry, report: &report)
                clipFrames.removeAll()
                try await summarise(final: false, onEntry: onEntry, report: &report)
            }
            report.duration = until
        } else if !report.stoppedEarly {
            // The end: the last (shorter) clip, then whatever segment is left, and the final summary.
            // Without a duration in the container, the last decoded picture's time (not the last sampled one).
            let end = max(duration ?? 0, lastTime, stream.counters.mediaTime ?? 0)
            if let last = memory.finalClip(duration: end), !clipFrames.isEmpty {
                try await caption(clipFrames, span: last, onEntry: onEntry, report: &report)
            }
            try await summarise(final: true, onEntry: onEntry, report: &report)
            report.duration = end
        }
        report.entries = memory.entries
        report.wallSeconds = start.secondsElapsed
        return report
    }

    /// Captions the clip `span` from its frames (up to `framesPerClip`, uniformly chosen), or records it skipped
    /// when it had no frame.
    private func caption(
        _ frames: [(time: Double, tokens: Tensor)], span: (start: Double, end: Double),
        onEntry: @Sendable (TextMemoryEntry) throws -> Void, report: inout CaptionReport
    ) async throws {
        let inside = frames.filter { $0.time >= span.start - 1e-6 && $0.time < span.end - 1e-6 }
        guard !inside.isEmpty else {
            let entry = TextMemoryEntry(level: .clip, start: span.start, end: span.end, text: "", tokenCount: 0, model: model.name)
            memory.add(entry)
            try onEntry(entry)
            return
        }
        let chosen = Self.uniform(inside, count: settings.framesPerClip)
        let t0 = DispatchTime.now()
        var job = try captioner.beginClip(frames: chosen, start: span.start, end: span.end)
        while !captioner.step(&job) { await Task.yield() }
        let entry = captioner.entry(for: job)
        report.captionSeconds += t0.secondsElapsed
        report.clipCaptionSeconds += t0.secondsElapsed
        memory.add(entry)
        try onEntry(entry)
    }

    /// Writes the segment summaries (and stream summaries) now due.
    private func summarise(final: Bool, onEntry: @Sendable (TextMemoryEntry) throws -> Void, report: inout CaptionReport)
        async throws
    {
        while true {
            let t0 = DispatchTime.now()
            // Each segment summary is followed by the stream summary; a resumed run first writes one it missed.
            if let segment = memory.segmentAwaitingSummary {
                var whole = try captioner.beginSummary(previous: memory.latestSummary, segment: segment)
                while !captioner.step(&whole) { await Task.yield() }
                let stream = captioner.entry(for: whole)
                memory.add(stream)
                try onEntry(stream)
                report.captionSeconds += t0.secondsElapsed
                continue
            }
            guard let segment = memory.dueSegment(final: final) else { break }
            var job = try captioner.beginSegment(segment.clips, start: segment.start, end: segment.end)
            while !captioner.step(&job) { await Task.yield() }
            let summary = captioner.entry(for: job)
            memory.add(summary)
            try onEntry(summary)
            report.captionSeconds += t0.secondsElapsed
        }
    }

    /// `count` items spread evenly over `items` (all of them when there are fewer).
    static func uniform<T>(_ items: [T], count: Int) -> [T] {
        guard items.count > count, count > 0 else { return items }
        return (0..<count).map { items[Int((Double($0) + 0.5) * Double(items.count) / Double(count))] }
    }
}
