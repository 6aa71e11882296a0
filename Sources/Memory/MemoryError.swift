// The one error type of Memory: caption format names, caption files and journals that cannot be read or written,
// prompts that cannot fit their budget, and the feature memory's bad settings, frames, bank files and saved states.
// Every message names the file or value, says what is wrong and what to do.

import VigilCore

/// A failure of the text memory: a bad caption format name, an unreadable or foreign journal, a file that cannot
/// be written, or a prompt whose mandatory part exceeds the budget.
public enum MemoryError: UserFacingError, Sendable, Equatable {
    /// A caption format name is not one of `srt`, `vtt`, `jsonl`, `txt`, `all`.
    case unknownCaptionFormat(name: String)
    /// A caption format list names no format at all.
    case emptyCaptionFormatList
    /// A file could not be read; `reason` is the system's words.
    case readFailed(path: String, reason: String)
    /// A file could not be written, flushed or renamed; `reason` is the system's words.
    case writeFailed(path: String, reason: String)
    /// The file's first line is not a Vigil caption journal header.
    case notAJournal(path: String, detail: String)
    /// A complete line inside the journal (not a torn last line) cannot be read.
    case corruptJournal(path: String, line: Int, detail: String)
    /// Another process has the journal open (the same input is being captioned twice at once).
    case journalInUse(path: String)
    /// The journal was written for another input file or other settings; `field` says which part differs.
    case foreignJournal(path: String, field: String, journal: String, current: String)
    /// A prompt needs `required` tokens after every allowed drop, more than `budget` (the sections that are never
    /// dropped — system, stream summary, current frames, question — are too long).
    case promptOverBudget(required: Int, budget: Int)
    /// A frame's token count is not a square grid (the feature memory pools 2×2 windows of a square grid).
    case invalidFeatureGeometry(tokenCount: Int, hiddenSize: Int)
    /// A feature memory setting is out of range; `setting` names it.
    case invalidFeatureSetting(setting: String, detail: String)
    /// A frame's number or media time does not increase over the previous frame's.
    case frameOutOfOrder(frame: Int, time: Double, previousFrame: Int, previousTime: Double)
    /// A frame's features hold an infinity or NaN.
    case nonFiniteFeatures(frame: Int)
    /// A feature bank folder or file belongs to another model (token grid, hidden size) or format.
    case foreignFeatureBank(path: String, detail: String)
    /// A feature bank record that is not the torn tail of the newest file is damaged.
    case corruptFeatureBank(path: String, detail: String)
    /// Another process has the feature bank folder open.
    case featureBankInUse(path: String)
    /// A serialised synopsis state cannot be read.
    case corruptSynopsisState(detail: String)
    /// A snapshot for media time `time` is no longer kept (the oldest kept one is at `oldest`).
    case snapshotUnavailable(time: Double, oldest: Double?)
    /// A saved global-key index (HNSW graph or its sidecar) is damaged or incomplete.
    case corruptVectorIndex(path: String, detail: String)
    /// A saved global-key index belongs to another model (key dimension) or format.
    case foreignVectorIndex(path: String, detail: String)
    /// The HNSW graph could not be created or loaded (out of memory, or an hnswlib failure).
    case vectorIndexFailed(detail: String)

    /// A short machine-readable code, for `{"type":"error"}` events.
    public var code: String {
        switch self {
        case .unknownCaptionFormat: return "unknown_format"
        case .emptyCaptionFormatList: return "no_format"
        case .readFailed: return "read_failed"
        case .writeFailed: return "write_failed"
        case .notAJournal: return "not_a_journal"
        case .corruptJournal: return "corrupt_journal"
        case .journalInUse: return "journal_in_use"
        case .foreignJournal: return "foreign_journal"
        case .promptOverBudget: return "prompt_over_budget"
        case .invalidFeatureGeometry: return "invalid_feature_geometry"
        case .invalidFeatureSetting: return "invalid_feature_setting"
        case .frameOutOfOrder: return "frame_out_of_order"
        case .nonFiniteFeatures: return "non_finite_features"
        case .foreignFeatureBank: return "foreign_feature_bank"
        case .corruptFeatureBank: return "corrupt_feature_bank"
        case .featureBankInUse: return "feature_bank_in_use"
        case .corruptSynopsisState: return "corrupt_synopsis_state"
        case .snapshotUnavailable: return "snapshot_unavailable"
        case .corruptVectorIndex: return "corrupt_vector_index"
        case .foreignVectorIndex: return "foreign_vector_index"
        case .vectorIndexFailed: return "vector_index_failed"
        }
    }

    public var description: String {
        switch self {
        case .unknownCaptionFormat(let name):
            return "unknown caption format '\(name)': use a comma-separated list of "
                + CaptionFormat.allCases.map(\.rawValue).joined(separator: ", ") + ", or all"
        case .emptyCaptionFormatList:
            return "no caption format given: use a comma-separated list of "
                + CaptionFormat.allCases.map(\.rawValue).joined(separator: ", ") + ", or all"
        case .readFailed(let path, let reason):
            return "cannot read \(path): \(reason); check that it exists and is readable"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason); check free space and permissions of its folder"
        case .notAJournal(let path, let detail):
            return "\(path) is not a Vigil caption journal (\(detail)); move it away or delete it, then run again"
        case .corruptJournal(let path, let line, let detail):
            return "caption journal \(path) is damaged at line \(line) (\(detail)); delete it to caption the input "
                + "again from the start"
        case .journalInUse(let path):
            return "caption journal \(path) is in use by another Vigil process; wait for it to finish or stop it"
        case .foreignJournal(let path, let field, let journal, let current):
            return "caption journal \(path) belongs to another run: its \(field) is \(journal), now it is "
                + "\(current); delete the journal (or run without resuming) to caption the input again"
        case .promptOverBudget(let required, let budget):
            return "the prompt needs \(required) tokens even after dropping everything that may be dropped (system "
                + "text, stream summary, current frames and question always stay), more than the budget of "
                + "\(budget); raise the prompt budget or shorten the question"
        case .invalidFeatureGeometry(let tokenCount, let hiddenSize):
            return "frame features of \(tokenCount) tokens × \(hiddenSize) values are not a square token grid with at "
                + "least one value per token (and at most \(FeatureGeometry.maximumTokenCount) tokens of "
                + "\(FeatureGeometry.maximumHiddenSize)); the feature memory needs the connector's square grid "
                + "(e.g. 64 = 8×8)"
        case .invalidFeatureSetting(let setting, let detail):
            return "feature memory setting \(setting): \(detail)"
        case .frameOutOfOrder(let frame, let time, let previousFrame, let previousTime):
            return "frame \(frame) at \(time) s does not follow frame \(previousFrame) at \(previousTime) s: frame "
                + "numbers and media times must increase; continue a resumed bank after its last frame"
        case .nonFiniteFeatures(let frame):
            return "frame \(frame)'s features contain an infinity or NaN; the vision model produced invalid values, "
                + "check the model's precision settings"
        case .foreignFeatureBank(let path, let detail):
            return "\(path) is not a feature bank of this model (\(detail)); use another folder or delete this one"
        case .corruptFeatureBank(let path, let detail):
            return "feature bank file \(path) is damaged (\(detail)); delete the bank folder to start a new one"
        case .featureBankInUse(let path):
            return "feature bank \(path) is in use by another Vigil process; stop it or use another folder"
        case .corruptSynopsisState(let detail):
            return "the saved synopsis state cannot be read (\(detail)); discard it to rebuild the synopsis from "
                + "new frames"
        case .snapshotUnavailable(let time, let oldest):
            let kept = oldest.map { "the oldest kept snapshot is at \($0) s" } ?? "no snapshot is kept"
            return "no feature memory snapshot at or before media time \(time) s (\(kept)); ask at a later time or "
                + "keep more versions"
        case .corruptVectorIndex(let path, let detail):
            return "global-key index file \(path) is damaged (\(detail)); delete the index files next to it (they are "
                + "rebuilt from the feature bank)"
        case .foreignVectorIndex(let path, let detail):
            return "\(path) is not a global-key index of this model (\(detail)); use another folder or delete it"
        case .vectorIndexFailed(let detail):
            return "the global-key index failed: \(detail); free memory or lower the HNSW threshold's settings"
        }
    }
}
