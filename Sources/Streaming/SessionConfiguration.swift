// Every knob of a live session, with the streaming brief's defaults, and the one table that names them: the same
// names are `vigil watch` options (`--cache-interval 2`), keys of pipeline presets (`cache-interval = 2`, see
// Pipeline.swift) and fields of the server's source requests. A value is checked where it is read, and a bad one is
// an error that names the option (and, in a preset, the file and line).

import Foundation
import Memory
import SmolVLM

/// When the session comments on the stream by itself.
public enum CommentaryMode: String, Sendable, CaseIterable {
    /// Never (the default: SmolVLM2 was not trained to stay silent).
    case off
    /// Every `commentaryInterval` seconds of media.
    case interval
    /// When the picture changes a lot (a scene change), and at least every `commentaryInterval` seconds.
    case scene
}

/// The settings of one live session.
public struct SessionConfiguration: Sendable, Equatable {
    /// Name of the source in events and status.
    public var sourceName: String?
    /// Frames sampled per second of media (M1).
    public var fps: Double = 1
    /// Replay a file at its own pace (network sources always are live). nil = live sources paced, files as fast
    /// as the session can go without dropping.
    public var realtime: Bool?
    /// Sampled frames waiting for the encoder before the oldest is dropped (live; M1's "2 chunks").
    public var maxLagFrames: Int = 2
    /// STC-Cacher (M2).
    public var cacher = CacherSettings()
    /// STC-Pruner (M3).
    public var pruner = PrunerSettings()
    /// Block cache budgets (M4, M5).
    public var budget = CacheBudget()
    /// Retrieval store cap in MiB (0 = off) and blocks pulled per question (M8).
    public var retrievalMiB: Int = 1024
    public var retrievalBlocks: Int = 16
    /// The most tokens of an answer, and of a question.
    public var maxAnswerTokens: Int = 256
    public var maxQuestionTokens: Int = 256
    /// Commentary (M7): mode, cadence in media seconds, tokens per comment, the prompt used.
    public var commentary: CommentaryMode = .off
    public var commentaryInterval: Double = 5
    public var commentaryTokens: Int = 20
    public var commentaryPrompt = "What is happening now? Answer in one short sentence."
    /// The share of changed patches (vs the previous frame) that counts as a scene change for commentary.
    public var sceneChangeFraction: Double = 0.3
    /// Pinned in the sink: what the session is for.
    public var instruction = "Answer questions about the live video."
    /// An optional system prompt, also pinned.
    public var systemPrompt: String?
    /// Seconds between status events.
    public var statusInterval: Double = 5
    /// The text memory: clip captions and summaries written in the background (memory brief §6.3).
    public var captions = true
    public var memory = TextMemorySchedule()
    /// Frames a live clip caption looks at.
    public var framesPerClip = 6
    /// Clips waiting to be captioned before the oldest is skipped.
    public var captionBacklog = 4
    /// Tokens of memory text (summaries, captions) put before a question.
    public var memoryBudget = 520
    /// What the model is asked for captions and summaries.
    public var captionPrompts = CaptionPrompts.builtIn
    /// The feature memory (memory brief §6.2): every frame's tokens in a bank, K weighted clusters, detail frames;
    /// questions about the past read it.
    public var featureMemory = true
    /// Media seconds of frames the feature bank keeps in RAM.
    public var bankSeconds: Double = 3600
    /// Synopsis clusters (K), detail frames (R) and current frames (n_cur) of a read.
    public var memoryPlan = ReadPlan()
    /// Standing questions: seconds between checks, and the share of changed patches that calls for one.
    public var standingPollInterval: Double = 5
    public var standingChangeThreshold: Double = 0.02
    /// A persistent session: its memory (captions, summaries, clusters, bank, standing questions) is kept under
    /// this name and restored when a session of the same name starts again (docs/memory.md). Nil: the memory lives
    /// and dies with the process.
    public var persistentSession: PersistentSession?
    /// Media seconds between saves of a persistent session's clusters and progress.
    public var persistInterval: Double = 30
    /// Media seconds of a non-live source before which frames are decoded but not looked at (`vigil ask --at`).
    public var startTime: Double = 0

    public init() {}
}

/// One named setting: its option/preset key, help, default, and how a text value is applied.
public struct SessionOption: Sendable {
    /// The key (`cache-interval`); the option is `--` + key.
    public let key: String
    /// Placeholder in help (`N`).
    public let valueName: String
    public let help: String
    /// The default as shown in help.
    public let defaultText: String
    let apply: @Sendable (inout SessionConfiguration, String) throws(SettingError) -> Void

    /// Applies `value` to `configuration`.
    public func apply(_ value: String, to configuration: inout SessionConfiguration) throws(SettingError) {
        try apply(&configuration, value)
    }
}

/// A bad value for a setting (the caller adds where it came from).
public struct SettingError: Error, CustomStringConvertible, Sendable {
    public var key: String
    public var message: String
    public var description: String { "invalid value for '\(key)': \(message)" }
}

extension SessionConfiguration {
    /// The settings, in help order.
    public static let options: [SessionOption] = {
        let d = SessionConfiguration()
        return [
            double("fps", "F", "Frames sampled per second of media (0.1–4).", d.fps, 0.1...4) { $0.fps = $1 },
            int("max-lag-frames", "N", "Sampled frames waiting for the encoder before the oldest is dropped.",
                d.maxLagFrames, 1...64) { $0.maxLagFrames = $1 },
            int("cache-interval", "N", "STC-Cacher: a full reference frame every N frames (1 = cacher off).",
                d.cacher.interval, 1...64) { $0.cacher.interval = $1 },
            double("update-ratio", "R", "STC-Cacher: share of patches recomputed on other frames (0–1].",
                d.cacher.updateRatio, 0.01...1) { $0.cacher.updateRatio = $1 },
            double("cut-cosine", "C", "STC-Cacher: mean key cosine below which a frame is a scene cut.",
                d.cacher.cutKeyCosine, 0...1) { $0.cacher.cutKeyCosine = $1 },
            double("cut-fraction", "F", "STC-Cacher: share of changed patches above which a frame is a scene cut.",
                d.cacher.cutPatchFraction, 0...1) { $0.cacher.cutPatchFraction = $1 },
            int("keep-tokens", "K", "STC-Pruner: visual tokens kept per frame (≥ the model's 64: pruner off).",
                d.pruner.keep, 1...4096) { $0.pruner.keep = $1 },
            double("pruner-alpha", "A", "STC-Pruner: weight of the temporal anchor (0–1).", d.pruner.alpha, 0...1) {
                $0.pruner.alpha = $1
            },
            int("pruner-window", "W", "STC-Pruner: frames in the temporal anchor.", d.pruner.window, 1...1024) {
                $0.pruner.window = $1
            },
            int("max-positions", "N", "KV cache: hard cap on positions (sink + text + window + question).",
                d.budget.maxPositions, 256...8192) { $0.budget.maxPositions = $1 },
            double("window", "S", "KV cache: seconds of frames kept in the vision window.",
                d.budget.visionWindowSeconds, 1...3600) { $0.budget.visionWindowSeconds = $1 },
            double("min-window", "S", "KV cache: the window shrinks to no less than this under the cap.",
                d.budget.minimumWindowSeconds, 0...3600) { $0.budget.minimumWindowSeconds = $1 },
            int("text-sink", "N", "KV cache: first tokens of aged text kept.", d.budget.textSink, 0...8192) {
                $0.budget.textSink = $1
            },
            int("text-window", "N", "KV cache: last tokens of aged text kept.", d.budget.textWindow, 0...8192) {
                $0.budget.textWindow = $1
            },
            int("retrieval-mb", "MB", "Retrieval store of evicted frames, MiB (0 = off; reserved at start).",
                d.retrievalMiB, 0...65536) { $0.retrievalMiB = $1 },
            int("retrieval-blocks", "N", "Evicted frames pulled back per question.", d.retrievalBlocks, 0...256) {
                $0.retrievalBlocks = $1
            },
            int("max-answer-tokens", "N", "Most tokens of an answer.", d.maxAnswerTokens, 1...4096) {
                $0.maxAnswerTokens = $1
            },
            option("commentary", "MODE", "Commentary: off, interval (every --commentary-interval s) or scene.",
                d.commentary.rawValue) { c, v throws(SettingError) in
                guard let mode = CommentaryMode(rawValue: v) else {
                    throw SettingError(key: "commentary", message: "'\(v)' is not one of off|interval|scene")
                }
                c.commentary = mode
            },
            double("commentary-interval", "S", "Commentary: media seconds between comments.",
                d.commentaryInterval, 0.5...3600) { $0.commentaryInterval = $1 },
            int("commentary-tokens", "N", "Commentary: most tokens per comment.", d.commentaryTokens, 1...256) {
                $0.commentaryTokens = $1
            },
            option("commentary-prompt", "TEXT", "Commentary: what the model is asked each time.",
                d.commentaryPrompt) { c, v throws(SettingError) in c.commentaryPrompt = v },
            option("instruction", "TEXT", "Standing instruction, pinned in the cache's sink.", d.instruction) {
                c, v throws(SettingError) in c.instruction = v
            },
            option("system", "TEXT", "System prompt, pinned in the sink.", "none") { c, v throws(SettingError) in
                c.systemPrompt = v.isEmpty ? nil : v
            },
            double("status-interval", "S", "Seconds between status events.", d.statusInterval, 0.1...3600) {
                $0.statusInterval = $1
            },
            option("captions", "on|off", "Text memory: caption clips and summarise segments in the background.", "on") {
                c, v throws(SettingError) in
                guard v == "on" || v == "off" else { throw SettingError(key: "captions", message: "'\(v)' is not on or off") }
                c.captions = v == "on"
            },
            double("clip-seconds", "S", "Text memory: media seconds per clip caption.", d.memory.clipSeconds, 2...3600) {
                $0.memory.clipSeconds = $1
            },
            double("segment-seconds", "S", "Text memory: media seconds per segment summary.", d.memory.segmentSeconds,
                4...86400) { $0.memory.segmentSeconds = $1 },
            int("memory-budget", "N", "Tokens of captions and summaries put before a question.", d.memoryBudget, 0...4096) {
                $0.memoryBudget = $1
            },
            option("feature-memory", "on|off", "Feature memory: every frame's tokens, clustered, read by questions.", "on") {
                c, v throws(SettingError) in
                guard v == "on" || v == "off" else {
                    throw SettingError(key: "feature-memory", message: "'\(v)' is not on or off")
                }
                c.featureMemory = v == "on"
            },
            double("bank-seconds", "S", "Feature memory: media seconds of frames kept in RAM.", d.bankSeconds, 10...86400 * 7) {
                $0.bankSeconds = $1
            },
            int("synopsis-clusters", "K", "Feature memory: clusters (synopsis blocks) a question reads.",
                d.memoryPlan.synopsisCount, 0...64) { $0.memoryPlan.synopsisCount = $1 },
            int("detail-frames", "R", "Feature memory: real past frames a question reads.", d.memoryPlan.detailCount, 0...16) {
                $0.memoryPlan.detailCount = $1
            },
            double("watch-interval", "S", "Standing questions: media seconds between checks.", d.standingPollInterval,
                0.5...3600) { $0.standingPollInterval = $1 },
            double("watch-change", "F", "Standing questions: share of changed patches that calls for a check.",
                d.standingChangeThreshold, 0...1) { $0.standingChangeThreshold = $1 },
        ]
    }()

    /// The option named `key`.
    public static func option(named key: String) -> SessionOption? { options.first { $0.key == key } }

    /// Problems of the combination (each a sentence).
    public func problems(tokensPerFrame: Int) -> [String] {
        var out: [String] = []
        if budget.minimumWindowSeconds > budget.visionWindowSeconds {
            out.append("--min-window (\(budget.minimumWindowSeconds) s) is longer than --window (\(budget.visionWindowSeconds) s)")
        }
        if memory.segmentSeconds < memory.clipSeconds {
            out.append("--segment-seconds (\(memory.segmentSeconds)) is shorter than --clip-seconds (\(memory.clipSeconds))")
        }
        let reserve = maxAnswerTokens + maxQuestionTokens + (captions ? memoryBudget : 0) + budget.textSink
            + budget.textWindow + (featureMemory ? memoryPlan.blockCount * (tokensPerFrame + 12) : 0)
        if reserve + 256 > budget.maxPositions {
            out.append(
                "--max-positions \(budget.maxPositions) leaves no room for frames after the text budgets "
                    + "(answer \(maxAnswerTokens) + question \(maxQuestionTokens) + text \(budget.textSink)+\(budget.textWindow))")
        }
        return out
    }

    // MARK: - Table helpers

    private static func double(
        _ key: String, _ valueName: String, _ help: String, _ value: Double, _ range: ClosedRange<Double>,
        _ set: @escaping @Sendable (inout SessionConfiguration, Double) -> Void
    ) -> SessionOption {
        SessionOption(key: key, valueName: valueName, help: help, defaultText: format(value)) { c, text throws(SettingError) in
            guard let v = Double(text), v.isFinite else {
                throw SettingError(key: key, message: "'\(text)' is not a number")
            }
            guard range.contains(v) else {
                throw SettingError(key: key, message: "\(text) is outside \(format(range.lowerBound))…\(format(range.upperBound))")
            }
            set(&c, v)
        }
    }

    private static func int(
        _ key: String, _ valueName: String, _ help: String, _ value: Int, _ range: ClosedRange<Int>,
        _ set: @escaping @Sendable (inout SessionConfiguration, Int) -> Void
    ) -> SessionOption {
        SessionOption(key: key, valueName: valueName, help: help, defaultText: String(value)) { c, text throws(SettingError) in
            guard let v = Int(text) else { throw SettingError(key: key, message: "'\(text)' is not an integer") }
            guard range.contains(v) else {
                throw SettingError(key: key, message: "\(v) is outside \(range.lowerBound)…\(range.upperBound)")
            }
            set(&c, v)
        }
    }

    private static func option(
        _ key: String, _ valueName: String, _ help: String, _ defaultText: String,
        _ set: @escaping @Sendable (inout SessionConfiguration, String) throws(SettingError) -> Void
    ) -> SessionOption {
        SessionOption(key: key, valueName: valueName, help: help, defaultText: defaultText, apply: set)
    }

    private static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }
}
