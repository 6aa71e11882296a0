// Writing the text memory with the model (memory brief §6.3): a clip caption from a few of the clip's frames, a
// segment summary from its clip captions, a stream summary from the previous one and the newest segment summary.
// Each is one greedy generation in a context of its own (a flat KV cache apart from the live session's), capped at
// the level's token budget. The prompts are SmolVLM2's video chat format:
//
//   clip      <|im_start|>User: You are provided the following series of six frames from a 0:00:30 [H:MM:SS] video.
//             \n\nFrame from 00:05:<frame tokens>…\n\n<clip prompt><end_of_utterance>\nAssistant:
//   segment   <|im_start|>User: Descriptions of consecutive parts of a video:\n[00:00–00:30] …\n<segment prompt>…
//   summary   <|im_start|>User: Summary of the video so far (00:00–05:00): …\nWhat happened next (05:00–10:00): …
//             \n<stream prompt><end_of_utterance>\nAssistant:
//
// A job runs in steps (one prefill, then one token a step) so a live session can run it at low priority between
// frames and answers.

import Foundation
import Kernels
import Memory
import SmolVLM
import Tokenization
import VigilCore

/// What the model is asked for each level (`pipelines/prompts/*.txt`).
public struct CaptionPrompts: Sendable, Equatable {
    public var clip: String
    public var segment: String
    public var summary: String

    /// The built-in texts (the same as the shipped files).
    public static let builtIn = CaptionPrompts(
        clip: "Describe what happens in these frames in one or two short sentences: who or what is there, what they "
            + "do, where, and any visible text.",
        segment: "Summarize what happens in this part of the video in at most two sentences.",
        summary: "Write an updated summary of the whole video so far in at most three sentences.")

    public init(clip: String, segment: String, summary: String) {
        self.clip = clip
        self.segment = segment
        self.summary = summary
    }

    /// The prompts from the first `prompts/` folder found beside the pipeline presets, else the built-in ones;
    /// `clipFile` replaces the clip prompt.
    public static func load(clipFile: String? = nil) throws(PipelineError) -> CaptionPrompts {
        var prompts = builtIn
        for folder in Pipeline.searchFolders() {
            let dir = (folder as NSString).appendingPathComponent("prompts")
            guard FileManager.default.fileExists(atPath: dir) else { continue }
            if let t = try read((dir as NSString).appendingPathComponent("clip-caption.txt"), optional: true) { prompts.clip = t }
            if let t = try read((dir as NSString).appendingPathComponent("segment-summary.txt"), optional: true) { prompts.segment = t }
            if let t = try read((dir as NSString).appendingPathComponent("stream-summary.txt"), optional: true) { prompts.summary = t }
            break
        }
        if let clipFile, let t = try read(clipFile, optional: false) { prompts.clip = t }
        return prompts
    }

    private static func read(_ path: String, optional: Bool) throws(PipelineError) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else {
            if optional { return nil }
            throw PipelineError(path: path, line: nil, message: "cannot read the prompt file (missing or not readable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineError(path: path, line: nil, message: "the prompt file is not UTF-8 text")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw PipelineError(path: path, line: nil, message: "the prompt file is empty") }
        return trimmed
    }
}

/// Writes captions and summaries with the model, in a context of its own.
public final class Captioner {
    public let model: VisionLanguageModel
    public let prompts: CaptionPrompts
    public let schedule: TextMemorySchedule
    let context: ComputeContext
    let generator: TextGenerator
    let embeddings: Tensor
    let capacity: Int
    let stopIDs: Set<Int>
    let imageTokenID: Int

    /// A captioner for `model` sharing `context` (one thread), with a cache of `capacity` tokens.
    public init(
        model: VisionLanguageModel, prompts: CaptionPrompts, schedule: TextMemorySchedule, context: ComputeContext,
        capacity: Int = 2048
    ) {
        self.model = model
        self.prompts = prompts
        self.schedule = schedule
        self.context = context
        self.capacity = capacity
        let decoder = model.model.decoder
        generator = TextGenerator(decoder: decoder, cache: decoder.makeCache(capacity: capacity), context: context)
        generator.reserve(tokens: capacity)
        embeddings = Tensor(zeros: [ComputeContext.bucketedRows(capacity), decoder.config.hiddenSize])
        var stops = Set(model.model.stopTokenIDs)
        if let eou = model.tokenizer.id(of: PromptBuilder.endOfUtterance) { stops.insert(eou) }
        stopIDs = stops
        imageTokenID = model.model.config.imageTokenID
    }

    /// One caption or summary being written.
    public struct Job {
        public let level: TextMemoryEntry.Level
        public let start: Double
        public let end: Double
        let maxTokens: Int
        var logits: Tensor?
        var ids: [Int] = []
        var detokenizer: StreamingDetokenizer
        var generated = 0
        public private(set) var isFinished = false
        let started = DispatchTime.now()
        var prefillSeconds = 0.0

        mutating func finish() { isFinished = true }
    }

    // MARK: - Prompts

    /// "mm:ss" of media time (minutes keep counting past an hour, as the processor writes frame times).
    static func clock(_ t: Double) -> String {
        let s = Int(max(0, t.isFinite ? t : 0))
        let (m, r) = (s / 60, s % 60)
        return (m < 10 ? "0\(m)" : "\(m)") + ":" + (r < 10 ? "0\(r)" : "\(r)")
    }

    /// The clip prompt for frames at `times`, each with `tokensPerFrame` image tokens.
    public func clipPrompt(times: [Double], tokensPerFrame: Int, start: Double, end: Double) -> String {
        let duration = Int((end - start).rounded())
        var text = PromptBuilder.beginOfConversation + "User: You are provided the following series of "
            + "\(NumberWords.english(times.count)) frames from a \(PromptBuilder.timedelta(seconds: duration)) [H:MM:SS] video.\n"
        let frame = PromptBuilder.imageBlock(rows: 0, cols: 0, imageSeqLen: tokensPerFrame)
        for t in times { text += "\nFrame from \(Self.clock(t)):" + frame }
        return text + "\n\n" + prompts.clip + PromptBuilder.endOfUtterance + "\nAssistant:"
    }

    /// The segment prompt over `clips`.
    public func segmentPrompt(_ clips: [TextMemoryEntry]) -> String {
        var text = PromptBuilder.beginOfConversation + "User: Descriptions of consecutive parts of a video:\n"
        for c in clips { text += "[\(Self.clock(c.start))–\(Self.clock(c.end))] \(Self.oneLine(c.text))\n" }
        return text + prompts.segment + PromptBuilder.endOfUtterance + "\nAssistant:"
    }

    /// The stream-summary prompt from the previous summary (if any) and the newest segment summary.
    public func summaryPrompt(previous: TextMemoryEntry?, segment: TextMemoryEntry) -> String {
        var text = PromptBuilder.beginOfConversation + "User: "
        if let previous {
            text += "Summary of the video so far (\(Self.clock(previous.start))–\(Self.clock(previous.end))): "
                + Self.oneLine(previous.text) + "\n"
        }
        text += "What happened \(previous == nil ? "" : "next ")(\(Self.clock(segment.start))–\(Self.clock(segment.end))): "
            + Self.oneLine(segment.text) + "\n"
        return text + prompts.summary + PromptBuilder.endOfUtterance + "\nAssistant:"
    }

    static func oneLine(_ s: String) -> String {
        s.split(whereSeparator: { $0.isNewline }).joined(separator: " ").trimmingCharacters(in: .whitespaces)
    }

    // MARK: - Jobs

    /// Starts a clip caption from `frames` (their visual tokens [k, D] each and media times).
    public func beginClip(frames: [(time: Double, tokens: Tensor)], start: Double, end: Double) throws(QuestionError) -> Job {
        let k = frames.first.map { $0.tokens.count / model.model.decoder.config.hiddenSize } ?? 0
        let text = clipPrompt(times: frames.map(\.time), tokensPerFrame: k, start: start, end: end)
        return try begin(.clip, text: text, images: frames.map(\.tokens), start: start, end: end)
    }

    /// Starts a segment summary of `clips`.
    public func beginSegment(_ clips: [TextMemoryEntry], start: Double, end: Double) throws(QuestionError) -> Job {
        try begin(.segment, text: segmentPrompt(clips), images: [], start: start, end: end)
    }

    /// Starts a stream summary.
    public func beginSummary(previous: TextMemoryEntry?, segment: TextMemoryEntry) throws(QuestionError) -> Job {
        try begin(
            .summary, text: summaryPrompt(previous: previous, segment: segment), images: [],
            start: previous?.start ?? segment.start, end: segment.end)
    }

    private func begin(_ level: TextMemoryEntry.Level, text: String, images: [Tensor], start: Double, end: Double)
        throws(QuestionError) -> Job
    {
        let ids = model.tokenizer.encode(text)
        let cap = schedule.cap(level)
        guard ids.count + cap + 1 <= capacity else {
            throw QuestionError("the \(level.rawValue) prompt is \(ids.count) tokens; the captioner holds \(capacity)")
        }
        let d = model.model.decoder.config.hiddenSize
        let rows = embeddings.rows(0..<ids.count)
        model.model.decoder.embed(ids, into: rows)
        var frame = 0, row = 0
        for i in 0..<ids.count where ids[i] == imageTokenID {
            guard frame < images.count else { break }
            (rows.floats + i * d).update(from: images[frame].floats + row * d, count: d)
            row += 1
            if row * d >= images[frame].count {
                frame += 1
                row = 0
            }
        }
        generator.cache.storage.reset()
        var job = Job(
            level: level, start: start, end: end, maxTokens: cap,
            detokenizer: model.tokenizer.makeStreamingDetokenizer(skipSpecialTokens: true))
        let t0 = DispatchTime.now()
        job.logits = generator.step(rows)
        job.prefillSeconds = t0.secondsElapsed
        return job
    }

    /// Decodes one token; returns true when the job is finished.
    @discardableResult
    public func step(_ job: inout Job) -> Bool {
        guard !job.isFinished, let logits = job.logits else { return true }
        let vocab = model.model.decoder.config.vocabSize
        let id = Sampler.argmax(logits.floats, count: vocab)
        if stopIDs.contains(id) || job.generated >= job.maxTokens || generator.remaining < 1 {
            job.finish()
            return true
        }
        job.generated += 1
        job.ids.append(id)
        let e = embeddings.rows(0..<1)
        model.model.decoder.embed([id], into: e)
        job.logits = generator.step(e)
        return false
    }

    /// The finished entry (text trimmed to the level's cap in tokenizer tokens).
    public func entry(for job: Job) -> TextMemoryEntry {
        var text = model.tokenizer.decode(job.ids, skipSpecialTokens: true).trimmingCharacters(in: .whitespacesAndNewlines)
        let cap = schedule.cap(job.level)
        var count = model.tokenizer.encode(text).count
        while count > cap, let cut = text.lastIndex(of: " ") {
            text = String(text[..<cut])
            count = model.tokenizer.encode(text).count
        }
        if count > cap {
            text = ""
            count = 0
        }
        let ms = job.started.secondsElapsed * 1000
        return TextMemoryEntry(
            level: job.level, start: job.start, end: job.end, text: text, tokenCount: count, model: model.name,
            timings: ["latency_ms": (ms * 10).rounded() / 10, "prefill_ms": (job.prefillSeconds * 10_000).rounded() / 10])
    }

    /// Runs a job to the end (batch use).
    public func run(_ job: inout Job) -> TextMemoryEntry {
        while !step(&job) {}
        return entry(for: job)
    }
}
