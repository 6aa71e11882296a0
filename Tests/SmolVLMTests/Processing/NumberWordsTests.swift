// NumberWords against num2words 0.5.14 (English cardinals).

import Foundation
import Testing

@testable import SmolVLM

@Suite struct NumberWordsTests {}

extension NumberWordsTests {
    @Test func matchesNum2wordsOnEveryGoldenNumber() throws {
        let goldens = try PreprocessGoldens.load()
        #expect(goldens.cases.numberWords.count > 1100)
        for c in goldens.cases.numberWords {
            #expect(NumberWords.english(c.number) == c.words, "\(c.number)")
        }
    }

    @Test func examples() {
        #expect(NumberWords.english(64) == "sixty-four")
        #expect(NumberWords.english(3) == "three")
        #expect(NumberWords.english(0) == "zero")
        #expect(NumberWords.english(101) == "one hundred and one")
        #expect(NumberWords.english(9999) == "nine thousand, nine hundred and ninety-nine")
    }
}
