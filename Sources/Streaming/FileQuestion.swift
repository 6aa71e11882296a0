// One question about a recording, answered as a live session would have answered it at media time T (`vigil ask`,
// chat completions about a file). A live session at T has two things: the text memory written up to T and the
// frames of its KV window. Both are rebuilt from the file, in two passes that each look at no more than they must:
//
//   1. the captioning pass (a `CaptionJob` stopped at T: clips sampled at framesPerClip / clipSeconds, the same
//      clips, captions and summaries a live session would hold at T — TextMemoryTests pins the equality);
//   2. a live session over the file that decodes but skips every frame before T − window, seeded with those
//      entries, which is asked the question at T and stopped once it has answered.
//
// Nothing after T is used. The answer reports its evidence (caption spans and frame spans), and its time to first
// token counts from the moment the session reaches T, as for a scripted live question.

import Foundation
import MediaIngest
import Memory
import SmolVLM
import VigilCore

/// Bad requests for a file question.
public enum FileQuestionError: Error, CustomStringConvertible, Sendable, UserFacingError {
    case timeOutOfRange(file: String, at: Double, duration: Double)
    case unknownDuration(file: String)

    public var description: String {
        switch self {
        case .timeOutOfRange(let file, let at, let duration):
            return "'\(file)': --at \(Captioner.clock(at)) is beyond its end (\(Captioner.clock(duration))); "
                + "give a time within the recording"
        case .unknownDuration(let file):
            return "'\(file)': its duration is unknown, so \"the end\" is undefined; give --at mm:ss"
        }
    }
}

/// One question about a recording at a media time.
public struct FileQuestion: Sendable {
    public let file: String
    public let question: String
    /// Media seconds the question is asked at; nil = the end of the recording.
    public let at: Double?
    public let model: VisionLanguageModel
    public let configuration: SessionConfiguration

    public init(
        file: String, question: String, at: Double? = nil, model: VisionLanguageModel,
        configuration: SessionConfiguration = SessionConfiguration()
    ) {
        self.file = file
        self.question = question
        self.at = at
        self.model = model
        self.configuration = configuration
    }

    /// Caption settings giving the clips a live session with `configuration` writes.
    public static func captionSettings(for c: SessionConfiguration) -> CaptionSettings {
        var s = CaptionSettings()
        s.fps = Double(max(1, c.framesPerClip)) / max(c.memory.clipSeconds, 1e-3)
        s.framesPerClip = c.framesPerClip
        s.schedule = c.memory
        s.cacher = c.cacher
        s.pruner = c.pruner
        s.prompts = c.captionPrompts
        return s
    }

    /// Seconds of frames before T that the session looks at: its vision window and one frame more.
    public static func windowSeconds(for c: SessionConfiguration) -> Double {
        c.budget.visionWindowSeconds + 2 / max(c.fps, 1e-3)
    }

    /// Builds the memory up to T (reporting progress), then answers: the stream yields `.started`, `.text`
    /// pieces and `.finished` (always last). Throws for a file that cannot be read or a time outside it, before
    /// anything is yielded.
    public func answer(
        onProgress: @escaping @Sendable (CaptionProgress) -> Void = { _ in }
    ) async throws -> AsyncStream<AnswerUpdate> {
        let duration = try probe(file).duration
        let time: Double
        if let at {
            if let duration, at > duration + 1e-6 {
                throw FileQuestionError.timeOutOfRange(file: file, at: at, duration: duration)
            }
            time = max(0, at)
        } else {
            guard let duration else { throw FileQuestionError.unknownDuration(file: file) }
            time = duration
        }

        var entries: [TextMemoryEntry] = []
        if configuration.captions && time >= configuration.memory.clipSeconds {
            let job = CaptionJob(model: model, source: file, settings: Self.captionSettings(for: configuration))
            let report = try await job.run(until: time, onEntry: { _ in }, onProgress: onProgress)
            entries = report.entries
        }

        var c = configuration
        c.realtime = false
        c.startTime = max(0, time - Self.windowSeconds(for: c))
        c.statusInterval = .infinity
        let session = try LiveSession(model: model, source: file, configuration: c)
        await session.seedMemory(entries)
        session.start()
        // Answered after the last frame at or before T (at the very end: when the source ends).
        let updates = session.ask(question, at: time)
        return AsyncStream { continuation in
            let task = Task {
                for await update in updates {
                    continuation.yield(update)
                    if case .finished = update { break }
                }
                _ = await session.stop()
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
