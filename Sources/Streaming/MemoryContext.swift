// The text-memory part of an answer (memory brief §6.5, steps 2–4): what of the stream's captions and summaries goes
// before a question, chosen by rules and BM25, fitted into a token budget, in the fixed section order and time order
// within sections. The live window's frames are already in the KV cache (section 7, served from the window); this
// text goes into the question's block just before the question.
//
//   Summary of the stream so far (00:00–12:00): …                                  L3, never dropped
//   Summaries of parts:  [05:00–10:00] …                                            L2: the current + the best match
//   Captions:            [03:30–04:00] …   [11:00–11:30] …   [11:30–12:00] …        L1: the best 3 + the last 2
//
// Question classes (rules, no model call): a *global* question ("summarize", "what is the video about") takes every
// segment summary instead of the best match; a question about *now* is answered from the window without retrieval.
// Only entries that ended by the question's time are used (causality).

import Memory
import Tokenization
import VigilCore

/// The memory text chosen for one question.
public struct MemoryContext: Sendable, Equatable {
    /// The text to put before the question (empty when the memory has nothing yet).
    public var text: String
    /// The spans whose captions or summaries were used.
    public var evidence: [TimeSpan]
    /// Tokens of `text`.
    public var tokenCount: Int
    /// Mid-times of the captions that matched the question well (BM25 ≥ 2): where the feature memory's
    /// question-guided detail frames come from.
    public var guidedTimes: [Double] = []

    public static let empty = MemoryContext(text: "", evidence: [], tokenCount: 0)

    /// Chooses and renders the memory for `question` asked at media time `time`, within `budget` tokens.
    public static func build(
        question: String, at time: Double, memory: TextMemory, tokenizer: Tokenizer, budget: Int = 520
    ) -> MemoryContext {
        let kind = QuestionClass.of(question)
        let clips = memory.entries(.clip, endingBy: time).filter { !$0.text.isEmpty }
        let segments = memory.entries(.segment, endingBy: time).filter { !$0.text.isEmpty }
        let summary = memory.entries(.summary, endingBy: time).last
        guard summary != nil || !clips.isEmpty else { return .empty }

        var items: [PromptItem<Int>] = []
        var guided: [Double] = []
        var lines: [Int: (section: PromptSection, line: String, entry: TextMemoryEntry)] = [:]
        var nextID = 0
        func add(_ entry: TextMemoryEntry, _ section: PromptSection, weight: Double, line: String) {
            let id = nextID
            nextID += 1
            lines[id] = (section, line, entry)
            items.append(
                PromptItem(
                    id: id, section: section, tokenCount: tokenizer.encode(line).count, start: entry.start,
                    end: entry.end, time: entry.start, weight: weight))
        }
        func label(_ e: TextMemoryEntry) -> String { "[\(Captioner.clock(e.start))–\(Captioner.clock(e.end))] " }

        if let summary {
            add(
                summary, .streamSummary, weight: .infinity,
                line: "Summary of the stream so far (\(Captioner.clock(summary.start))–\(Captioner.clock(summary.end))): "
                    + Captioner.oneLine(summary.text))
        }
        // L2: the current segment always; the best match, or every segment for a global question.
        var chosenSegments: [(TextMemoryEntry, Double)] = []
        if let current = segments.last { chosenSegments.append((current, .infinity)) }
        if kind == .global {
            for s in segments.dropLast() { chosenSegments.append((s, s.end)) }
        } else if kind != .current {
            let excluded = Set(segments.suffix(1).compactMap { memory.id(of: $0) })
            for hit in memory.search(question, levels: [.segment], endingBy: time, limit: 1, excluding: excluded) {
                chosenSegments.append((hit.entry, hit.score))
            }
        }
        for (s, w) in chosenSegments { add(s, .segmentSummaries, weight: w, line: label(s) + Captioner.oneLine(s.text)) }
        // L1: the last two always; the best three matches before them.
        let recent = Array(clips.suffix(2))
        for c in recent { add(c, .clipCaptions, weight: .infinity, line: label(c) + Captioner.oneLine(c.text)) }
        if kind != .global {
            let excluded = Set(recent.compactMap { memory.id(of: $0) })
            for hit in memory.search(question, levels: [.clip], endingBy: time, limit: 3, excluding: excluded)
            where !hit.entry.text.isEmpty {
                add(hit.entry, .clipCaptions, weight: hit.score, line: label(hit.entry) + Captioner.oneLine(hit.entry.text))
                if hit.score >= 2 { guided.append((hit.entry.start + hit.entry.end) / 2) }
            }
        }
        let selection: PromptSelection<Int>
        do {
            selection = try PromptBudget(budget: budget).fit(items)
        } catch {
            return .empty
        }
        var text = ""
        var section: PromptSection?
        var evidence: [TimeSpan] = []
        for item in selection.kept {
            guard let (s, line, entry) = lines[item.id] else { continue }
            if s != section {
                switch s {
                case .segmentSummaries: text += "Summaries of parts:\n"
                case .clipCaptions: text += "Captions:\n"
                default: break
                }
                section = s
            }
            text += line + "\n"
            evidence.append(TimeSpan(start: entry.start, end: entry.end))
        }
        return MemoryContext(
            text: text, evidence: evidence, tokenCount: selection.tokenCount, guidedTimes: Array(guided.prefix(2)))
    }
}
