// Standing questions (memory brief §6.5 step 7; OVO-Bench's "forward" questions): "tell me when a person is at the
// door" registers a condition that the session checks as the stream goes on, and reports once, with the media time,
// the first time the model says it holds. A check is a small yes/no prompt in a context of its own — the last
// caption and the two newest frames, then "Is this true: <condition>? Answer yes or no." — decided by comparing the
// logits of "yes" and "no" at the first answer token (no sampling, no free text).
//
// Cadence: at most every `pollInterval` seconds of media, and only when the picture changed since the last check
// (more than `changeThreshold` of the patches, the DTD-style measure the cacher already computes) or a minute has
// passed — a door that opens is a change. Checks run at low priority and are skipped (and counted) while frames are
// waiting for the encoder: answering never makes ingestion fall behind.

import Foundation
import Kernels
import Memory
import SmolVLM
import Tokenization
import VigilCore

/// A registered standing question.
public struct StandingQuestion: Sendable, Equatable {
    public enum State: String, Sendable { case watching, fired, cancelled }
    public var id: String
    /// What to watch for, as given ("a person is at the door").
    public var condition: String
    /// Media time it was registered at, and seconds between checks.
    public var since: Double
    public var pollInterval: Double
    public var state: State
    /// When it came true.
    public var firedAt: Double?
    /// Checks made and skipped (no headroom).
    public var checks: Int
    public var skipped: Int
    /// Time of the last check (media seconds).
    public var lastCheck: Double?
    /// Nil: reported once, then `fired`. Otherwise it stays `watching` and reports again — one alert per event —
    /// once the condition has been seen false since the last report and `cooldown` media seconds have passed.
    public var cooldown: Double?
    /// Times it has been reported.
    public var fireCount: Int = 0
    /// False from a report until the condition is next seen false (re-arming for a later event).
    public var armed: Bool = true

    /// The condition of a request worded as a command ("tell me when X" → "X").
    public static func condition(from request: String) -> String {
        var text = request.trimmingCharacters(in: .whitespacesAndNewlines)
        for prefix in ["tell me when ", "tell me if ", "notify me when ", "notify me if ", "let me know when ",
                       "let me know if ", "alert me when ", "alert me if ", "watch for "]
        where text.lowercased().hasPrefix(prefix) {
            text = String(text.dropFirst(prefix.count))
            break
        }
        while let last = text.last, "?.!".contains(last) { text.removeLast() }
        return text
    }
}

/// Decides yes/no questions with the model, in a context of its own.
final class YesNoJudge {
    let model: VisionLanguageModel
    let generator: TextGenerator
    let embeddings: Tensor
    let yesIDs: [Int]
    let noIDs: [Int]
    let capacity: Int

    init(model: VisionLanguageModel, context: ComputeContext, capacity: Int = 768) {
        self.model = model
        self.capacity = capacity
        let decoder = model.model.decoder
        generator = TextGenerator(decoder: decoder, cache: decoder.makeCache(capacity: capacity), context: context)
        generator.reserve(tokens: capacity)
        embeddings = Tensor(zeros: [ComputeContext.bucketedRows(capacity), decoder.config.hiddenSize])
        let t = model.tokenizer
        func ids(_ words: [String]) -> [Int] { Array(Set(words.compactMap { w in let e = t.encode(w); return e.count == 1 ? e[0] : nil })) }
        yesIDs = ids([" yes", " Yes", "yes", "Yes"])
        noIDs = ids([" no", " No", "no", "No"])
    }

    /// The prompt for `condition` over `frames` (kept tokens, [k, D] each) and an optional last caption.
    func prompt(condition: String, frames: [(time: Double, tokens: Tensor)], caption: String?) -> String {
        let k = frames.first.map { $0.tokens.count / model.model.decoder.config.hiddenSize } ?? 0
        var text = PromptBuilder.beginOfConversation + "User: "
        if let caption, !caption.isEmpty { text += "Recently: " + Captioner.oneLine(caption) + "\n" }
        for f in frames {
            text += "\nFrame from \(Captioner.clock(f.time)):" + PromptBuilder.imageBlock(rows: 0, cols: 0, imageSeqLen: k)
        }
        return text + "\n\nLook at the frames. Is this true: \(condition)? Answer yes or no."
            + PromptBuilder.endOfUtterance + "\nAssistant:"
    }

    /// The model's verdict: true when its best "yes" logit beats its best "no" one.
    func judge(condition: String, frames: [(time: Double, tokens: Tensor)], caption: String?) -> Bool? {
        guard !yesIDs.isEmpty, !noIDs.isEmpty else { return nil }
        let ids = model.tokenizer.encode(prompt(condition: condition, frames: frames, caption: caption))
        guard ids.count <= capacity else { return nil }
        let d = model.model.decoder.config.hiddenSize
        let rows = embeddings.rows(0..<ids.count)
        model.model.decoder.embed(ids, into: rows)
        let image = model.model.config.imageTokenID
        var frame = 0, row = 0
        for i in 0..<ids.count where ids[i] == image && frame < frames.count {
            (rows.floats + i * d).update(from: frames[frame].tokens.floats + row * d, count: d)
            row += 1
            if row * d >= frames[frame].tokens.count {
                frame += 1
                row = 0
            }
        }
        generator.cache.storage.reset()
        let logits = generator.step(rows)
        let yes = yesIDs.map { logits.floats[$0] }.max()!
        let no = noIDs.map { logits.floats[$0] }.max()!
        return yes > no
    }
}

extension LiveSession {
    /// Registers a standing question ("tell me when …" or a bare condition); returns its id. It is checked as the
    /// stream goes on and reported, as an `alert` event, when it comes true: once, or — with a `cooldown` — once
    /// per event (false again, then true again at least `cooldown` media seconds after the last report).
    @discardableResult
    public nonisolated func watchFor(
        _ request: String, every pollInterval: Double? = nil, id: String? = nil, cooldown: Double? = nil
    ) -> String {
        let condition = StandingQuestion.condition(from: request)
        let interval = max(0.5, pollInterval ?? configuration.standingPollInterval)
        // A persistent session keeps the questions registered on it (a caller that gives ids keeps its own).
        let stored = id == nil && cooldown == nil ? persistStanding(condition, pollInterval: interval) : nil
        let number = standingCounter.wrappingAdd(1, ordering: .relaxed).newValue
        let question = StandingQuestion(
            id: id ?? stored ?? "w\(number)", condition: condition, since: currentMediaTime,
            pollInterval: interval, state: .watching,
            firedAt: nil, checks: 0, skipped: 0, lastCheck: nil, cooldown: cooldown.map { max(0, $0) })
        Task(priority: .high) { await self.register(question, stored: stored != nil) }
        return question.id
    }

    /// The standing questions, registered order.
    public func standingQuestions() -> [StandingQuestion] { standing }

    /// Cancels a standing question; false when there is no such watching question.
    @discardableResult
    public func cancelStanding(_ id: String) -> Bool {
        guard let i = standing.firstIndex(where: { $0.id == id && $0.state == .watching }) else { return false }
        standing[i].state = .cancelled
        persistCancelled(id)
        return true
    }

    func register(_ question: StandingQuestion, stored: Bool = false) {
        // Registering an id again (a restored session re-armed by its caller) keeps the question as it is.
        guard !standing.contains(where: { $0.id == question.id }) else { return }
        if stored { persistedStanding.insert(question.id) }
        standing.append(question)
        standingDirty[question.id] = 1  // check at the first chance
    }

    /// After a commit: remembers the newest frames and the change since each question's last check; schedules due
    /// checks (skipped while frames wait for the encoder).
    func noteFrameForStanding(time: Double, tokens: Tensor, changed: Double) {
        guard standing.contains(where: { $0.state == .watching }) else { return }
        let copy = Tensor(zeros: Array(tokens.shape))
        copy.copy(from: tokens)
        recentFrames.append((time, copy))
        if recentFrames.count > 2 { recentFrames.removeFirst(recentFrames.count - 2) }
        for q in standing where q.state == .watching { standingDirty[q.id] = max(standingDirty[q.id] ?? 0, changed) }
        for i in standing.indices where standing[i].state == .watching {
            let q = standing[i]
            let since = time - (q.lastCheck ?? -.infinity)
            let change = standingDirty[q.id] ?? 0
            guard since >= q.pollInterval, change > configuration.standingChangeThreshold || since >= 60 else { continue }
            if isPaced && unencodedFramesWaiting > 0 {
                standing[i].skipped += 1
                counters.standingSkipped += 1
                continue
            }
            standing[i].lastCheck = time
            standingDirty[q.id] = 0
            standingDue.append((q.id, recentFrames))
        }
        if !standingDue.isEmpty {
            captionWaiter?.resume()
            captionWaiter = nil
            standingWaiter?.resume()
            standingWaiter = nil
        }
    }

    /// The low-priority task that checks standing questions.
    func standingLoop() async {
        guard let judge else { return }
        while !stopped {
            guard !standingDue.isEmpty else {
                await withCheckedContinuation { standingWaiter = $0 }
                continue
            }
            let (id, frames) = standingDue.removeFirst()
            guard let i = standing.firstIndex(where: { $0.id == id }), standing[i].state == .watching,
                let newest = frames.last
            else { continue }
            let caption = memory?.entries(.clip).last?.text
            standing[i].checks += 1
            counters.standingChecks += 1
            let verdict = judge.judge(condition: standing[i].condition, frames: frames, caption: caption)
            if verdict == false { standing[i].armed = true }
            let cooled = standing[i].firedAt.map { newest.time >= $0 + (standing[i].cooldown ?? 0) } ?? true
            if verdict == true, standing[i].armed, cooled {
                standing[i].state = standing[i].cooldown == nil ? .fired : .watching
                standing[i].armed = false
                standing[i].fireCount += 1
                standing[i].firedAt = newest.time
                if standing[i].state == .fired { persistFired(id, at: newest.time) }
                let start = frames.first?.time ?? newest.time
                events.publish(
                    .alert(
                        AlertEvent(
                            id: id, source: name, condition: standing[i].condition, at: newest.time, answer: "yes",
                            evidence: [TimeSpan(start: start, end: newest.time)])))
            }
            wakeEncoder()
            await Task.yield()
        }
    }
}
