// The terms BM25 indexes and queries with. The same function turns captions and questions into terms, so a query
// matches whatever form a caption used:
//
//   1. Case and accents folded ("Café" → "cafe"); words are runs of letters and digits, so punctuation, hyphens and
//      times split ("20:34" → "20", "34"; "t-shirt" → "t", "shirt").
//   2. Possessives dropped: "man's" → "man", "dogs'" → "dogs"; other apostrophes vanish ("don't" → "dont").
//   3. A short list of English function words is skipped (the, a, of, is, where, did, ...), so extra question words
//      do not dilute a query.
//   4. A light suffix stemmer for plural forms, applied alike to both sides, so that singular and plural meet:
//      -ies → -i, -sses → -ss, -xes/-ches/-shes/-zzes → drop -es, -s → drop (not after s, u, i), then a final
//      -e is dropped and a final -y becomes -i. Examples: umbrellas/umbrella → umbrella, boxes/box → box,
//      puppies/puppy → puppi, houses/house → hous, glasses/glass → glass, buses/bus → bus.
//      Words with digits are not stemmed. Irregular plurals (knives, children) and verb forms (-ing, -ed) are not
//      handled: a light stemmer, by design (no dictionary).

import Foundation

/// Turns text into BM25 terms: folded, split, possessives and function words removed, plurals stemmed.
public enum SearchTokenizer {
    /// The terms of `text`, in order, with repeats.
    public static func terms(_ text: String) -> [String] {
        let folded = text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).lowercased()
        var terms: [String] = []
        var word = String.UnicodeScalarView()
        func finish() {
            defer { word.removeAll(keepingCapacity: true) }
            while let last = word.last, isApostrophe(last) { word.removeLast() }
            guard !word.isEmpty else { return }
            var text = String(word)
            // Possessive 's (the apostrophe forms were kept inside the word only for this).
            for suffix in ["'s", "\u{2019}s"] where text.hasSuffix(suffix) {
                text.removeLast(2)
            }
            text.unicodeScalars.removeAll(where: isApostrophe)
            guard !text.isEmpty, !stopWords.contains(text) else { return }
            terms.append(stem(text))
        }
        for scalar in folded.unicodeScalars {
            if isWordScalar(scalar) {
                word.append(scalar)
            } else if isApostrophe(scalar), !word.isEmpty {
                word.append(scalar)
            } else {
                finish()
            }
        }
        finish()
        return terms
    }

    /// The stem of one folded word (see the file header for the rules).
    static func stem(_ word: String) -> String {
        guard !word.unicodeScalars.contains(where: { $0.properties.numericType != nil }) else { return word }
        var w = Array(word.unicodeScalars)
        func ends(_ suffix: String) -> Bool {
            let s = Array(suffix.unicodeScalars)
            return w.count >= s.count && Array(w[(w.count - s.count)...]) == s
        }
        if w.count > 4 && ends("ies") {
            w.removeLast(2)
        } else if ends("sses") {
            w.removeLast(2)
        } else if w.count >= 4 && (ends("xes") || ends("ches") || ends("shes") || ends("zzes")) {
            w.removeLast(2)
        } else if w.count >= 4 && ends("s") && !ends("ss") && !ends("us") && !ends("is") {
            w.removeLast()
        }
        if w.count >= 3 && ends("e") {
            w.removeLast()
        } else if w.count >= 3 && ends("y") {
            w[w.count - 1] = "i"
        }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: w)
        return String(out)
    }

    private static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isAlphabetic || scalar.properties.numericType != nil
    }

    private static func isApostrophe(_ scalar: Unicode.Scalar) -> Bool { scalar == "'" || scalar == "\u{2019}" }

    /// English function words that carry no content in captions or questions.
    static let stopWords: Set<String> = [
        "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "with", "from", "into",
        "onto", "over", "as", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "has",
        "have", "had", "it", "its", "this", "that", "these", "those", "there", "here", "then", "than", "so", "if",
        "i", "me", "my", "you", "your", "we", "our", "they", "them", "their", "he", "him", "his", "she", "her",
        "what", "which", "who", "whom", "whose", "where", "when", "why", "how", "any", "some", "can", "could",
        "will", "would", "should", "shall", "may", "might", "must", "not", "no", "yes", "very", "just", "also",
        "about", "up", "down", "out", "off", "again", "ever", "s", "t",
    ]
}
