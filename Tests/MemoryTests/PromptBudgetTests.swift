// The prompt budget: the brief's dropping order, and its property test (memory.md §6.6 check 11): over 10,000
// random memory states and question classes the kept prompt never exceeds the budget, keeps the section order, is
// time-monotone within sections, never drops a fixed section, drops in stage order and no more than needed.

import Testing

@testable import Memory

@Suite struct PromptBudgetTests {}

private typealias Item = PromptItem<String>

private func item(_ id: String, _ section: PromptSection, _ tokens: Int, at time: Double, weight: Double = 0) -> Item {
    Item(id: id, section: section, tokenCount: tokens, start: time, end: time + 30, weight: weight)
}

extension PromptBudgetTests {
    @Test func aPromptThatFitsKeepsEverythingInPromptOrder() throws {
        let items = [
            item("q", .question, 30, at: 500), item("now1", .currentFrames, 70, at: 499),
            item("now0", .currentFrames, 70, at: 498), item("syn-late", .synopsis, 72, at: 300, weight: 5),
            item("syn-early", .synopsis, 72, at: 10, weight: 50), item("l3", .streamSummary, 100, at: 0),
            item("sys", .system, 50, at: 0), item("l1", .clipCaptions, 40, at: 120),
        ]
        let selection = try PromptBudget(budget: 2048).fit(items)
        #expect(selection.kept.map(\.id) == ["sys", "l3", "l1", "syn-early", "syn-late", "now0", "now1", "q"])
        #expect(selection.dropped.isEmpty && selection.tokenCount == 504)
    }

    @Test func overBudgetDropsInTheBriefsOrder() throws {
        var items = [
            item("sys", .system, 60, at: 0), item("l3", .streamSummary, 120, at: 0), item("q", .question, 100, at: 900),
        ]
        items += (0..<2).map { item("now\($0)", .currentFrames, 70, at: 898 + Double($0)) }
        items += (0..<12).map {
            item("syn\($0)", .synopsis, 72, at: Double($0) * 60, weight: Double(($0 * 7) % 12 + 1))
        }
        items += [
            item("l1-old", .clipCaptions, 50, at: 30, weight: 2.5),
            item("l1-mid", .clipCaptions, 50, at: 300, weight: 4.0),
            item("l1-hit", .clipCaptions, 50, at: 450, weight: 9.0),
            item("l1-last0", .clipCaptions, 50, at: 840, weight: .infinity),
            item("l1-last1", .clipCaptions, 50, at: 870, weight: .infinity),
            item("l2-now", .segmentSummaries, 80, at: 600, weight: .infinity),
            item("l2-hit", .segmentSummaries, 80, at: 0, weight: 3.1),
        ]
        let total = items.reduce(0) { $0 + $1.tokenCount }
        #expect(total == 60 + 120 + 100 + 140 + 864 + 250 + 160)

        // Budget just under the total: the lowest-weight synopsis block goes (weight 1 is syn0).
        let one = try PromptBudget(budget: total - 1).fit(items)
        #expect(one.dropped.map(\.id) == ["syn0"])
        // Synopsis down to 6, then L1 captions (lowest weight first) down to the last two.
        let more = try PromptBudget(budget: total - 6 * 72 - 120).fit(items)
        #expect(more.dropped.filter { $0.section == .synopsis }.count == 6)
        #expect(more.dropped.filter { $0.section == .clipCaptions }.map(\.id) == ["l1-old", "l1-mid", "l1-hit"])
        #expect(more.kept.filter { $0.section == .synopsis }.map(\.weight).min() == 7)
        // Then L2 down to the current segment; then beyond the brief.
        let tight = try PromptBudget(budget: total - 6 * 72 - 150 - 80).fit(items)
        #expect(tight.dropped.last?.id == "l2-hit")
        #expect(tight.kept.map(\.id).contains("l2-now") && tight.kept.map(\.id).contains("l1-last0"))
        let fixed = 60 + 120 + 100 + 140
        let bare = try PromptBudget(budget: fixed).fit(items)
        #expect(bare.kept.map(\.id) == ["sys", "l3", "now0", "now1", "q"] && bare.tokenCount == fixed)
        #expect(throws: MemoryError.promptOverBudget(required: fixed, budget: fixed - 1)) {
            try PromptBudget(budget: fixed - 1).fit(items)
        }
    }

    @Test func stagesCanBeChosen() throws {
        let items = [
            item("q", .question, 10, at: 9), item("syn", .synopsis, 50, at: 0), item("d0", .detailFrames, 50, at: 1),
            item("d1", .detailFrames, 50, at: 2, weight: 1),
        ]
        let detailFirst = PromptBudget(budget: 70, stages: [PromptBudget.Stage(.detailFrames, keepAtLeast: 0)])
        #expect(try detailFirst.fit(items).kept.map(\.id) == ["syn", "q"])
        let keepOne = PromptBudget(budget: 70, stages: [PromptBudget.Stage(.detailFrames, keepAtLeast: 1)])
        #expect(throws: MemoryError.promptOverBudget(required: 110, budget: 70)) { try keepOne.fit(items) }
    }

    @Test func randomStatesNeverBreakTheBudgetOrOrder() throws {
        var random = SplitMix64(seed: 11)
        var fitted = 0
        var droppedSomething = 0
        var rejected = 0
        for state in 0..<10_000 {
            let questionClass = QuestionClass.allCases[state % QuestionClass.allCases.count]
            let (items, budget) = randomState(questionClass, &random)
            let fixed = items.filter(\.section.isFixed).reduce(0) { $0 + $1.tokenCount }
            let selection: PromptSelection<String>
            do {
                selection = try PromptBudget(budget: budget).fit(items)
            } catch {
                #expect(fixed > budget && error == .promptOverBudget(required: fixed, budget: budget))
                rejected += 1
                continue
            }
            fitted += 1
            if !selection.dropped.isEmpty { droppedSomething += 1 }
            let kept = selection.kept
            // Within budget, and the count is honest.
            #expect(selection.tokenCount <= budget)
            #expect(selection.tokenCount == kept.reduce(0) { $0 + $1.tokenCount })
            #expect(kept.count + selection.dropped.count == items.count)
            // Section order, then time order within each section.
            for (a, b) in zip(kept, kept.dropFirst()) {
                #expect(a.section <= b.section, "state \(state)")
                if a.section == b.section { #expect(a.time <= b.time, "state \(state): \(a.id) after \(b.id)") }
            }
            // Fixed sections are never dropped.
            #expect(!selection.dropped.contains { $0.section.isFixed })
            // No more dropped than needed: the last drop was necessary.
            if let last = selection.dropped.last { #expect(selection.tokenCount + last.tokenCount > budget) }
            // Stage order: later sections lose items only after earlier ones reached their floor.
            let count = { (section: PromptSection) in kept.filter { $0.section == section }.count }
            let initial = { (section: PromptSection) in items.filter { $0.section == section }.count }
            let lost = Set(selection.dropped.map(\.section))
            if lost.contains(.clipCaptions) { #expect(count(.synopsis) <= 6) }
            if lost.contains(.segmentSummaries) { #expect(count(.synopsis) <= 6 && count(.clipCaptions) <= 2) }
            if lost.contains(.detailFrames) || lost.contains(.dialogue) {
                #expect(count(.segmentSummaries) <= 1 && count(.clipCaptions) <= 2 && count(.synopsis) <= 6)
            }
            // What must stay (the two latest clips, the current segment) goes only in the fallback stages, after
            // detail frames, dialogue and all synopsis blocks (and, for the segment, all other captions).
            let lostRequired = Set(selection.dropped.filter { $0.weight == .infinity }.map(\.section))
            if !lostRequired.isEmpty {
                #expect(count(.synopsis) == 0 && count(.detailFrames) == 0 && count(.dialogue) == 0)
            }
            if lostRequired.contains(.segmentSummaries) { #expect(count(.clipCaptions) == 0) }
            #expect(initial(.question) == 1)
        }
        #expect(fitted + rejected == 10_000)
        #expect(droppedSomething > 1000 && fitted > 8000, "fitted \(fitted), dropped from \(droppedSomething)")
    }
}

/// The question classes of memory.md §6.5 step 2 and how they shift the section sizes.
private enum QuestionClass: CaseIterable {
    case plain, current, past, global, standing
}

/// A random memory state for a question of `questionClass` at a random time, and a budget.
private func randomState(_ questionClass: QuestionClass, _ random: inout SplitMix64) -> ([Item], Int) {
    func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(random.next() % UInt64(range.count)) }
    let now = Double(int(60...100_000))
    var synopsis = 12
    var details = 3
    var current = 2
    var segments = 2
    switch questionClass {
    case .plain, .standing: break
    case .current: (current, synopsis) = (4, 8)
    case .past: (details, synopsis) = (4, 10)
    case .global: (segments, synopsis, details) = (int(1...10), 12, 0)
    }
    var items: [Item] = [
        item("system", .system, int(30...70), at: 0), item("question", .question, int(15...130), at: now),
    ]
    if random.next() % 5 != 0 { items.append(item("l3", .streamSummary, int(20...130), at: 0)) }
    for k in 0..<current {
        items.append(item("now\(k)", .currentFrames, 64 + int(5...10), at: now - Double(current - k)))
    }
    for k in 0..<int(max(0, synopsis - 4)...synopsis) {
        let time = Double(int(0...Int(now)))
        items.append(item("syn\(k)", .synopsis, 64 + int(6...12), at: time, weight: Double(int(1...400))))
    }
    for k in 0..<int(0...details) {
        items.append(
            item(
                "detail\(k)", .detailFrames, 64 + int(6...10), at: Double(int(0...Int(now))),
                weight: 2 + Double(int(0...100)) / 10))
    }
    for k in 0..<int(0...3) {
        items.append(
            item(
                "l1hit\(k)", .clipCaptions, int(15...60), at: Double(int(0...Int(now) - 60)),
                weight: Double(int(1...120)) / 10))
    }
    for k in 0..<2 {
        items.append(item("l1last\(k)", .clipCaptions, int(15...60), at: now - 60 + Double(30 * k), weight: .infinity))
    }
    items.append(item("l2now", .segmentSummaries, int(20...80), at: now - Double(int(0...299)), weight: .infinity))
    for k in 1..<max(1, segments) {
        items.append(
            item(
                "l2hit\(k)", .segmentSummaries, int(20...80), at: Double(int(0...Int(now))),
                weight: Double(int(1...90)) / 10))
    }
    if random.next() % 3 == 0 {
        for k in 0..<int(1...2) {
            items.append(
                item(
                    "turn\(k)", .dialogue, int(20...60), at: now - Double(100 * (2 - k)),
                    weight: now - Double(100 * (2 - k))))
        }
    }
    items.shuffle(using: &random)
    let budget = random.next() % 3 == 0 ? [1536, 2048][int(0...1)] : int(350...2300)
    return (items, budget)
}
