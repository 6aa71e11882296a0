// English cardinal numbers in words, as num2words 0.5.14 writes them (`num2words(n)`, lang "en"): "sixty-four",
// "one hundred and one", "one thousand, two hundred and thirty-four", "minus five". SmolVLM's video prompt spells
// out its frame count this way.
//
// Re-implements num2words' algorithm (base.py `splitnum` / `clean`, lang_EN.py `merge`): the number is split
// recursively by the largest named value (quintillion … thousand, hundred, the tens, nineteen … zero) into a tree
// of (words, value) pairs, which is then folded pairwise from the left with the English joining rules:
//   one × small            → small                       ("one" "five" → "five")
//   tens + smaller          → hyphen                      ("sixty" "four" → "sixty-four")
//   ≥ 100 + < 100           → " and "                     ("one hundred" "one" → "one hundred and one")
//   smaller × larger scale  → space, multiply            ("two" "thousand" → "two thousand")
//   otherwise               → ", " and add               ("one thousand" "two hundred" → "one thousand, two hundred")

/// num2words-compatible English cardinals.
public enum NumberWords {
    /// `n` in English words, e.g. 64 → "sixty-four", 1101 → "one thousand, one hundred and one". `n` must not be
    /// `Int.min` (its magnitude has no `Int`).
    public static func english(_ n: Int) -> String {
        precondition(n != Int.min, "NumberWords.english(Int.min) is not supported")
        return n < 0 ? "minus " + words(of: -n) : words(of: n)
    }

    /// Named values, largest first (num2words' `cards` order).
    private static let cards: [(value: Int, word: String)] = {
        var list: [(Int, String)] = [
            (1_000_000_000_000_000_000, "quintillion"), (1_000_000_000_000_000, "quadrillion"),
            (1_000_000_000_000, "trillion"), (1_000_000_000, "billion"), (1_000_000, "million"),
            (1000, "thousand"), (100, "hundred"), (90, "ninety"), (80, "eighty"), (70, "seventy"), (60, "sixty"),
            (50, "fifty"), (40, "forty"), (30, "thirty"),
        ]
        let low = [
            "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
            "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
        ]
        for value in stride(from: 20, through: 0, by: -1) { list.append((value, low[value])) }
        return list
    }()

    private static func word(for value: Int) -> String {
        cards.first { $0.value == value }!.word
    }

    /// A node of num2words' split tree: a (words, value) pair or a nested list.
    private indirect enum Node {
        case pair(String, Int)
        case list([Node])
    }

    private static func words(of value: Int) -> String {
        guard case .pair(let text, _) = clean(split(value)) else { return "" }
        return text
    }

    /// num2words `splitnum`: [one-or-split(quotient), (card), split(remainder)?] for the largest card ≤ value.
    private static func split(_ value: Int) -> [Node] {
        for card in cards where card.value <= value {
            let quotient: Int
            let remainder: Int
            if value == 0 {
                (quotient, remainder) = (1, 0)
            } else {
                (quotient, remainder) = value.quotientAndRemainder(dividingBy: card.value)
            }
            var out: [Node] = []
            if quotient == 1 {
                out.append(.pair(word(for: 1), 1))
            } else {
                out.append(.list(split(quotient)))
            }
            out.append(.pair(card.word, card.value))
            if remainder != 0 {
                out.append(.list(split(remainder)))
            }
            return out
        }
        return [.pair(word(for: 0), 0)]
    }

    /// num2words `clean`: folds the tree into one pair, merging the first two pairs at each step.
    private static func clean(_ start: [Node]) -> Node {
        var value = start
        var out = value
        while value.count != 1 {
            out = []
            if case .pair(let lt, let ln) = value[0], case .pair(let rt, let rn) = value[1] {
                out.append(merge((lt, ln), (rt, rn)))
                if value.count > 2 { out.append(.list(Array(value[2...]))) }
            } else {
                for element in value {
                    if case .list(let inner) = element {
                        out.append(inner.count == 1 ? inner[0] : clean(inner))
                    } else {
                        out.append(element)
                    }
                }
            }
            value = out
        }
        return out[0]
    }

    /// lang_EN `merge`: joins two (words, value) pairs.
    private static func merge(_ left: (String, Int), _ right: (String, Int)) -> Node {
        let (lt, ln) = left
        let (rt, rn) = right
        if ln == 1 && rn < 100 { return .pair(rt, rn) }
        if 100 > ln && ln > rn { return .pair("\(lt)-\(rt)", ln + rn) }
        if ln >= 100 && 100 > rn { return .pair("\(lt) and \(rt)", ln + rn) }
        if rn > ln { return .pair("\(lt) \(rt)", ln &* rn) }
        return .pair("\(lt), \(rt)", ln + rn)
    }
}
