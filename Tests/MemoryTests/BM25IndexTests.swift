// BM25 search: the tokenizer's folding and stemming, scores equal to the formula computed naively, the level and
// causal time filters, and the brief's zoom-retrieval check (memory.md §6.6 check 10): 50 facts planted among
// thousands of filler captions are found in the top 3 by paraphrased queries for at least 48 of 50.

import Foundation
import Testing

@testable import Memory

@Suite struct BM25IndexTests {}

extension BM25IndexTests {
    @Test func tokenizerFoldsSplitsAndStems() {
        #expect(
            SearchTokenizer.terms("The RED Umbrella's handle, at 20:34!") == ["red", "umbrella", "handl", "20", "34"])
        #expect(SearchTokenizer.terms("Café t-shirt don’t") == ["caf", "shirt", "dont"])
        let pairs = [
            ("umbrellas", "umbrella"), ("boxes", "box"), ("puppies", "puppy"), ("houses", "house"),
            ("glasses", "glass"), ("buses", "bus"), ("watches", "watch"), ("dishes", "dish"), ("keys", "key"),
            ("tomatoes", "tomato"), ("bicycles", "bicycle"), ("dogs'", "dog's"), ("ladies", "lady"),
            ("sizes", "size"), ("buzzes", "buzz"), ("shoes", "shoe"),
        ]
        for (plural, singular) in pairs {
            #expect(SearchTokenizer.terms(plural) == SearchTokenizer.terms(singular), "\(plural) / \(singular)")
            #expect(SearchTokenizer.terms(plural).count == 1, "\(plural)")
        }
        #expect(SearchTokenizer.terms("where is the") == [])
        #expect(SearchTokenizer.terms("gas bus glass this 2024s") == ["gas", "bus", "glass", "2024s"])
    }

    @Test func scoresFollowTheFormula() throws {
        let texts = [
            "a red umbrella by the door", "the red car and the red light", "a dog sleeps", "umbrella umbrella stand",
            "", "an open door and a closed door in a long corridor with many people walking",
        ]
        let entries = texts.enumerated().map { clip(Double($0.offset) * 30, Double($0.offset + 1) * 30, $0.element) }
        let index = BM25Index(entries)
        let hits = index.search("red umbrella door", limit: 10)
        let expected = naiveScores(texts.map(SearchTokenizer.terms), query: SearchTokenizer.terms("red umbrella door"))
        #expect(hits.map(\.id) == expected.filter { $0.value > 0 }.sorted { $0.value > $1.value }.map(\.key))
        for hit in hits { #expect(abs(hit.score - expected[hit.id]!) < 1e-12) }
        #expect(hits.first?.id == 0)
        #expect(hits.first?.start == 0 && hits.first?.end == 30)
        #expect(index.search("zebra").isEmpty && index.search("").isEmpty && index.search("the of").isEmpty)
        #expect(BM25Index().search("red").isEmpty)
        #expect(BM25Index.k1 == 1.2 && BM25Index.b == 0.75)
    }

    @Test func filtersByLevelTimeAndID() {
        var index = BM25Index()
        index.add(clip(0, 30, "a red kite over the beach"))
        index.add(clip(30, 60, "a red kite lands"))
        index.add(TextMemoryEntry(level: .segment, start: 0, end: 300, text: "kites on a beach", tokenCount: 4))
        index.add(clip(300, 330, "the red kite again"))
        #expect(index.count == 4)
        #expect(Set(index.search("red kite", limit: 10).map(\.id)) == [0, 1, 2, 3])
        #expect(index.search("kite", limit: 10, filter: .init(levels: [.segment])).map(\.id) == [2])
        #expect(Set(index.search("kite", limit: 10, filter: .init(endingBy: 60)).map(\.id)) == [0, 1])
        #expect(Set(index.search("kite", limit: 10, filter: .init(endingBy: 59.9)).map(\.id)) == [0])
        #expect(Set(index.search("kite", limit: 10, filter: .init(startingFrom: 30)).map(\.id)) == [1, 3])
        #expect(Set(index.search("kite", limit: 10, filter: .init(excludedIDs: [1, 3])).map(\.id)) == [0, 2])
        #expect(index.search("kite", limit: 2).count == 2)
        #expect(index.search("kite", limit: 0).isEmpty)
        // Causal statistics: a search limited to t sees the same scores as an index built only up to t.
        let early = BM25Index(index.entries.filter { $0.end <= 60 })
        let causal = index.search("red kite beach", limit: 10, filter: .init(endingBy: 60))
        #expect(causal == early.search("red kite beach", limit: 10))
    }

    @Test func plantedFactsAreFoundByParaphrasedQueries() {
        var random = SplitMix64(seed: 2026)
        let plan = FactPlan.make(fillerCount: 3000, factCount: 50, random: &random)
        var index = BM25Index()
        for entry in plan.entries { index.add(entry) }
        var found = 0
        var misses: [String] = []
        for (number, fact) in plan.facts.enumerated() {
            let query = fact.paraphrase(number)
            let hits = index.search(query, limit: 3, filter: .init(levels: [.clip]))
            if hits.contains(where: { $0.id == fact.entryID }) {
                found += 1
            } else {
                misses.append("\(query) → \(hits.map { index.entries[$0.id].text })")
            }
        }
        #expect(found >= 48, "found \(found)/50; misses: \(misses)")
        #expect(plan.entries.count > 3000)
    }
}

/// BM25 computed directly from its definition, for every document.
private func naiveScores(_ documents: [[String]], query: [String]) -> [Int: Double] {
    let n = Double(documents.count)
    let average = Double(documents.map(\.count).reduce(0, +)) / n
    var scores: [Int: Double] = [:]
    for (id, document) in documents.enumerated() {
        var score = 0.0
        for term in Set(query) {
            let df = Double(documents.filter { $0.contains(term) }.count)
            guard df > 0 else { continue }
            let idf = log(1 + (n - df + 0.5) / (df + 0.5))
            let tf = Double(document.filter { $0 == term }.count)
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * Double(document.count) / average))
        }
        scores[id] = score
    }
    return scores
}

/// Synthetic captions of a long stream: filler clips built from the same vocabulary as the facts (colours, objects,
/// places), plus 50 planted facts, each the only caption whose words include all of its colour, object and place.
private struct FactPlan {
    struct Fact {
        var colour: String
        var object: String
        var place: String
        var entryID: Int
        var stamp: String

        /// A question about the fact in other words: word order, plural/singular, possessives, case, extra words.
        func paraphrase(_ number: Int) -> String {
            let plural = FactPlan.plural(object)
            switch number % 6 {
            case 0: return "Where did I see the \(plural) that were \(colour) near the \(place)?"
            case 1: return "\(colour.uppercased()) \(object.capitalized) by the \(FactPlan.plural(place))"
            case 2: return "was there a \(object) coloured \(colour) at the \(place) earlier today"
            case 3: return "the \(place)'s \(colour) \(plural)"
            case 4: return "Show me when \(plural) in \(colour) appeared close to the \(place), please!"
            default: return "at what time did someone leave that \(colour) \(object) next to the \(place)"
            }
        }
    }

    var entries: [TextMemoryEntry]
    var facts: [Fact]

    static let colours = [
        "red", "blue", "green", "yellow", "black", "white", "orange", "purple", "grey", "brown", "pink", "silver",
    ]
    static let objects = [
        "umbrella", "suitcase", "bicycle", "box", "puppy", "backpack", "scooter", "balloon", "ladder", "bus", "dress",
        "watch", "kite", "guitar", "helmet", "jacket", "trolley", "lamp", "statue", "sofa", "toy", "key", "laptop",
        "bottle", "flag", "candle", "dish", "mattress", "glass", "bench", "car", "van", "truck", "bag", "hat", "cup",
        "chair", "ball", "sign", "cone",
    ]
    static let places = [
        "entrance", "parking lot", "kitchen", "lobby", "platform", "counter", "window", "door", "fountain", "garage",
        "gate", "corridor", "elevator", "bridge", "garden", "shelf", "desk", "crosswalk", "balcony", "stage",
    ]
    static let people = ["a man", "a woman", "two people", "a child", "a guard", "a cyclist", "an old man", "a crowd"]
    static let actions = [
        "walks past", "stands near", "waits by", "looks at", "points at", "carries", "moves", "cleans", "leaves",
        "appears close to", "sits beside", "runs toward",
    ]

    static func plural(_ noun: String) -> String {
        if noun.hasSuffix("y"), let before = noun.dropLast().last, !"aeiou".contains(before) {
            return noun.dropLast() + "ies"
        }
        if noun.hasSuffix("s") || noun.hasSuffix("x") || noun.hasSuffix("ch") || noun.hasSuffix("sh") {
            return noun + "es"
        }
        return noun + "s"
    }

    static func make(fillerCount: Int, factCount: Int, random: inout SplitMix64) -> FactPlan {
        func pick(_ list: [String]) -> String { list[Int(random.next() % UInt64(list.count))] }
        // The facts: distinct (colour, object, place) triples at distinct clips.
        var triples = Set<[String]>()
        var slots = Set<Int>()
        var factAt: [Int: [String]] = [:]
        while triples.count < factCount {
            let triple = [pick(colours), pick(objects), pick(places)]
            guard !triples.contains(triple) else { continue }
            var slot: Int
            repeat { slot = Int(random.next() % UInt64(fillerCount)) } while slots.contains(slot)
            triples.insert(triple)
            slots.insert(slot)
            factAt[slot] = triple
        }
        let factTerms = triples.map { Set($0.flatMap(SearchTokenizer.terms)) }
        func mentionsAFact(_ text: String) -> Bool {
            let terms = Set(SearchTokenizer.terms(text))
            return factTerms.contains { $0.isSubset(of: terms) }
        }
        var entries: [TextMemoryEntry] = []
        var facts: [Fact] = []
        for slot in 0..<fillerCount {
            let start = Double(slot) * 30
            let text: String
            if let triple = factAt[slot] {
                let stamp = clockText(start + 14)
                // Shaped like the fillers: one sentence of about their length, plus the time on screen.
                text = "At \(stamp) \(pick(people)) \(pick(actions)) a \(triple[0]) \(triple[1]) by the \(triple[2])."
                facts.append(
                    Fact(colour: triple[0], object: triple[1], place: triple[2], entryID: entries.count, stamp: stamp))
            } else {
                // A filler mentions colours, objects and places too, but never all three words of a planted fact.
                var candidate: String
                repeat {
                    let colour = pick(colours)
                    let object = pick(objects)
                    let place = pick(places)
                    switch random.next() % 4 {
                    case 0:
                        candidate =
                            "\(pick(people).capitalized) \(pick(actions)) a \(colour) \(object) at the \(place)."
                    case 1:
                        let (person, action, other) = (pick(people), pick(actions), pick(places))
                        candidate = "A \(colour) \(object) near the \(place); \(person) \(action) the \(other)."
                    case 2:
                        let (person, action) = (pick(people).capitalized, pick(actions))
                        let (otherColour, otherObject) = (pick(colours), pick(objects))
                        candidate = "\(person) \(action) the \(place) while a \(otherColour) \(otherObject) waits."
                    default:
                        candidate = "Quiet scene at the \(place), \(FactPlan.plural(object)) in view, \(colour) light."
                    }
                } while mentionsAFact(candidate)
                text = candidate
            }
            entries.append(
                TextMemoryEntry(
                    level: .clip, start: start, end: start + 30, text: text, tokenCount: 30,
                    createdAt: Date(timeIntervalSince1970: 1_780_000_000 + start)))
            if slot % 10 == 9 {
                entries.append(
                    TextMemoryEntry(
                        level: .segment, start: start - 270, end: start + 30,
                        text: "People and objects around the \(pick(places)) and the \(pick(places)).", tokenCount: 20,
                        createdAt: Date(timeIntervalSince1970: 1_780_000_000 + start + 1)))
            }
        }
        return FactPlan(entries: entries, facts: facts)
    }

    private static func clockText(_ seconds: Double) -> String {
        let s = Int(seconds)
        return String(format: "%02d:%02d", s / 3600, s / 60 % 60)
    }
}
