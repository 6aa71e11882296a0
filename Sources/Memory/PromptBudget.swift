// Fitting an answer prompt into its token budget (../shared/briefs/memory.md §6.5 step 4). The caller describes
// every candidate item generically (an id of its own, the section, a token count that includes the item's label,
// its time and a weight); `PromptBudget.fit` returns the items to keep, in the fixed section order and
// chronological within each section:
//
//   1 system  2 L3 stream summary  3 L2 summaries  4 L1 captions  5 synopsis blocks  6 detail frames
//   7 current frames  7b dialogue history  8 question
//
// Over budget, items are dropped one at a time, lowest weight first (ties: earliest time, then first given), in
// stages, each stopping as soon as the prompt fits:
//
//   brief's order      synopsis down to 6, L1 captions down to 2, L2 summaries down to 1
//   beyond the brief   detail frames, dialogue history, then synopsis, L1 and L2 down to 0 (so the result always
//                      fits when it can; the brief does not say what goes after its three stages)
//
// System text, the L3 summary, current frames and the question are never dropped; when they alone exceed the budget,
// `fit` throws. Weights the caller should give: synopsis blocks their cluster weight (frames); L1 captions their
// BM25 score, and the two most recent clips `.infinity` (they always stay); L2 their BM25 score, the current segment
// `.infinity`; detail frames their retrieval score; dialogue turns their time (the oldest goes first).

/// A section of an answer prompt, in prompt order.
public enum PromptSection: Int, Sendable, Hashable, CaseIterable, Comparable {
    /// System text and the answer-format instruction.
    case system = 1
    /// The L3 whole-stream summary.
    case streamSummary
    /// L2 segment summaries: the current one and retrieved ones.
    case segmentSummaries
    /// L1 clip captions: retrieved ones and the most recent.
    case clipCaptions
    /// Synopsis frame blocks (weighted clusters).
    case synopsis
    /// Detail frames (real frames from the bank).
    case detailFrames
    /// The current frames.
    case currentFrames
    /// Earlier questions and answers of the conversation.
    case dialogue
    /// The question, its options and the answer cue.
    case question

    /// Prompt order.
    public static func < (lhs: PromptSection, rhs: PromptSection) -> Bool { lhs.rawValue < rhs.rawValue }

    /// True for the sections `PromptBudget` never drops from.
    public var isFixed: Bool {
        self == .system || self == .streamSummary || self == .currentFrames || self == .question
    }
}

/// One candidate item of a prompt: what it is (the caller's id), where it goes and what it costs.
public struct PromptItem<ID: Hashable & Sendable>: Sendable {
    /// The caller's reference to the content.
    public var id: ID
    /// The section the item belongs to.
    public var section: PromptSection
    /// Tokens the item takes, its label included (≥ 0).
    public var tokenCount: Int
    /// Media time the item's span starts at (its label).
    public var start: Double
    /// Media time the item's span ends at.
    public var end: Double
    /// The time the item is ordered by within its section (the start by default; a synopsis block's weighted mean
    /// time).
    public var time: Double
    /// Importance when the prompt is over budget: lower is dropped first.
    public var weight: Double

    /// An item; `end` defaults to `start`, `time` to `start`.
    public init(
        id: ID, section: PromptSection, tokenCount: Int, start: Double, end: Double? = nil, time: Double? = nil,
        weight: Double = 0
    ) {
        precondition(tokenCount >= 0, "a prompt item cannot take a negative number of tokens")
        precondition(
            !weight.isNaN && !start.isNaN && !(time ?? start).isNaN, "prompt item weights and times are numbers")
        self.id = id
        self.section = section
        self.tokenCount = tokenCount
        self.start = start
        self.end = end ?? start
        self.time = time ?? start
        self.weight = weight
    }
}

/// The items `PromptBudget.fit` kept, in prompt order, and those it dropped.
public struct PromptSelection<ID: Hashable & Sendable>: Sendable {
    /// The kept items: by section, then by time.
    public var kept: [PromptItem<ID>]
    /// The dropped items, in the order they were dropped.
    public var dropped: [PromptItem<ID>]
    /// Tokens of the kept items (≤ the budget).
    public var tokenCount: Int
}

/// A token budget and the order in which items are dropped to meet it.
public struct PromptBudget: Sendable, Hashable {
    /// One dropping stage: items of `section`, lowest weight first, while more than `keepAtLeast` remain.
    public struct Stage: Sendable, Hashable {
        /// The section dropped from.
        public var section: PromptSection
        /// How many of its items this stage leaves.
        public var keepAtLeast: Int

        /// A stage; `section` must not be one that is never dropped.
        public init(_ section: PromptSection, keepAtLeast: Int) {
            precondition(!section.isFixed, "\(section) is never dropped")
            self.section = section
            self.keepAtLeast = keepAtLeast
        }
    }

    /// The brief's three stages followed by the fallbacks (see the file header).
    public static let defaultStages: [Stage] = [
        Stage(.synopsis, keepAtLeast: 6), Stage(.clipCaptions, keepAtLeast: 2),
        Stage(.segmentSummaries, keepAtLeast: 1),
        Stage(.detailFrames, keepAtLeast: 0), Stage(.dialogue, keepAtLeast: 0), Stage(.synopsis, keepAtLeast: 0),
        Stage(.clipCaptions, keepAtLeast: 0), Stage(.segmentSummaries, keepAtLeast: 0),
    ]

    /// The most tokens the prompt may take (default 2,048 for SmolVLM2-256M, 1,536 for 500M).
    public var budget: Int
    /// The dropping stages, in order.
    public var stages: [Stage]

    /// A budget of `budget` tokens with `stages`.
    public init(budget: Int, stages: [Stage] = PromptBudget.defaultStages) {
        self.budget = budget
        self.stages = stages
    }

    /// The items to keep from `items` so their tokens fit the budget, in prompt order.
    public func fit<ID>(_ items: [PromptItem<ID>]) throws(MemoryError) -> PromptSelection<ID> {
        var isKept = [Bool](repeating: true, count: items.count)
        var total = items.reduce(0) { $0 + $1.tokenCount }
        let fixed = items.reduce(0) { $0 + ($1.section.isFixed ? $1.tokenCount : 0) }
        guard fixed <= budget else { throw .promptOverBudget(required: fixed, budget: budget) }

        var dropped: [PromptItem<ID>] = []
        for stage in stages where total > budget {
            // Candidates of the section, the first to drop first.
            let order = items.indices.filter { items[$0].section == stage.section && isKept[$0] }.sorted { a, b in
                let x = items[a]
                let y = items[b]
                if x.weight != y.weight { return x.weight < y.weight }
                if x.time != y.time { return x.time < y.time }
                return a < b
            }
            var remaining = order.count
            for index in order {
                guard total > budget, remaining > stage.keepAtLeast else { break }
                isKept[index] = false
                total -= items[index].tokenCount
                remaining -= 1
                dropped.append(items[index])
            }
        }
        // Stages that leave items (or omit sections) may not reach the budget.
        guard total <= budget else { throw .promptOverBudget(required: total, budget: budget) }

        let kept = items.indices.filter { isKept[$0] }.sorted { a, b in
            let x = items[a]
            let y = items[b]
            if x.section != y.section { return x.section < y.section }
            if x.time != y.time { return x.time < y.time }
            return a < b
        }.map { items[$0] }
        return PromptSelection(kept: kept, dropped: dropped, tokenCount: total)
    }
}
