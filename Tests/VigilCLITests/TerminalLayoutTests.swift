// Where the line editor's text lands, without a terminal: word-wrapping streamed output into committed rows and a
// partial row, escape sequences, tabs and carriage returns; and the cursor row of libedit's prompt + line.

import Testing

@testable import VigilCLI

@Suite struct TerminalLayoutTests {
    init() {
        TerminalWidth.useUTF8Locale()  // wcwidth knows wide characters only under a UTF-8 LC_CTYPE
    }

    @Test func tokensGrowThePartialRowUntilALineBreak() {
        var layout = OutputLayout(columns: 20)
        #expect(layout.append("The ") == [])
        #expect(layout.append("cat") == [])
        #expect(layout.partialText == "The cat")
        #expect(layout.append(" sat\nnext") == ["The cat sat"])
        #expect(layout.partialText == "next")
        #expect(layout.finishRow() == "next")
        #expect(layout.partialText.isEmpty && layout.finishRow() == nil)
    }

    @Test func longRowsBreakAtTheLastSpaceAndTheWordMovesDown() {
        var layout = OutputLayout(columns: 10)
        #expect(layout.append("aaaa bbbb") == [])
        #expect(layout.append("b") == [])  // exactly full: still partial
        #expect(layout.append("b") == ["aaaa"])
        #expect(layout.partialText == "bbbbbb")
        #expect(layout.append(" cc") == [])
        #expect(layout.append(" dd") == ["bbbbbb cc"])
        #expect(layout.partialText == "dd")
    }

    @Test func aSpaceThatOverflowsEndsTheRowAndOneLongWordBreaksHard() {
        var layout = OutputLayout(columns: 5)
        #expect(layout.append("abcde fg") == ["abcde"])
        #expect(layout.partialText == "fg")
        var word = OutputLayout(columns: 4)
        #expect(word.append("abcdefghij") == ["abcd", "efgh"])
        #expect(word.partialText == "ij")
    }

    @Test func wideCharactersTakeTwoColumns() {
        var layout = OutputLayout(columns: 5)
        #expect(layout.append("日本語") == ["日本"])
        #expect(layout.partialWidth == 2)
    }

    @Test func escapeSequencesTakeNoWidthAndSurviveBeingSplit() {
        var layout = OutputLayout(columns: 6)
        #expect(layout.append("\u{1B}[1") == [])
        #expect(layout.append("mbold\u{1B}[0m") == [])
        #expect(layout.partialWidth == 4)
        #expect(layout.partialHasEscapes)
        #expect(layout.partialText == "\u{1B}[1mbold\u{1B}[0m")
    }

    @Test func tabsExpandCarriageReturnsRestartTheRowControlsAreDropped() {
        var layout = OutputLayout(columns: 40)
        _ = layout.append("a\tb")
        #expect(layout.partialText == "a       b")
        _ = layout.append("\rprogress 10%")
        _ = layout.append("\rprogress 20%")
        #expect(layout.partialText == "progress 20%")
        #expect(layout.append("\r\n") == ["progress 20%"])
        _ = layout.append("x\u{07}\u{08}y")
        #expect(layout.partialText == "xy")
    }

    @Test func narrowingTheTerminalCommitsWhatNoLongerFits() {
        var layout = OutputLayout(columns: 20)
        _ = layout.append("one two three four")
        #expect(layout.setColumns(10) == ["one two"])
        #expect(layout.partialText == "three four")
    }

    @Test func inputCursorRowFollowsLibeditsWrapping() {
        let prompt = Array("> ".unicodeScalars)
        func layout(_ line: String, cursor: Int? = nil, columns: Int = 10) -> InputLayout {
            let scalars = Array(line.unicodeScalars)
            return InputLayout(prompt: prompt, line: scalars, cursor: cursor ?? scalars.count, columns: columns)
        }
        #expect(layout("").cursorRow == 0 && layout("").cursorColumn == 2)
        #expect(layout("1234567").cursorRow == 0)  // 9 columns
        let full = layout("12345678")  // exactly 10: the cursor goes to the next row
        #expect(full.cursorRow == 1 && full.cursorColumn == 0 && full.lastRow == 1)
        #expect(layout("123456789012345", cursor: 3).cursorRow == 0)
        #expect(layout("123456789012345", cursor: 9).cursorRow == 1)
        #expect(layout("1234567日").cursorRow == 1)  // a wide character that does not fit moves down
        #expect(layout("\u{01}").cursorColumn == 4)  // ^A
        #expect(layout("a\tb").cursorColumn == 9)
    }
}
