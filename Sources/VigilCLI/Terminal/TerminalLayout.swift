// Where text lands on a terminal screen, computed without touching one: display widths (wcwidth), the rows a
// stream of output occupies when word-wrapped at the terminal width, and the row of the cursor inside libedit's
// prompt + input line. LineEditor uses these to erase exactly the rows it owns (the partial output row and the
// input rows) before redrawing them; the tests check them directly.
//
// Output model: complete rows are committed (written once, then left to the scrollback); the last, incomplete row
// is "partial" and is redrawn on every write, so a streamed answer grows token by token on one row. When a row
// would overflow, it breaks at its last space (the word moves down to the new partial row) or, for one long word,
// at the width. Escape sequences (CSI, OSC, two-byte ESC) take no width and travel with their text; tabs expand to
// the next multiple of 8; a lone carriage return clears the partial row (progress-bar style); other control
// characters are dropped.
//
// Input model (libedit's re_refresh, refresh.c): prompt then line, character by character from column 0; a
// character that does not fit moves to the next row; a row that is exactly full puts the cursor at column 0 of the
// next row; ASCII control characters show as ^X (2 columns); tabs go to the next multiple of 8.

import CEdit
import Glibc

/// Display widths of Unicode scalars on a terminal (wcwidth under a UTF-8 LC_CTYPE).
enum TerminalWidth {
    /// libedit and wcwidth decode and measure characters by LC_CTYPE: take the user's locale, and C.UTF-8 if that
    /// is not UTF-8 (Vigil writes UTF-8 whatever the locale). Process-wide; LineEditor calls it before el_init.
    static func useUTF8Locale() {
        setlocale(LC_CTYPE, "")
        if let codeset = vce_codeset(), String(cString: codeset) == "UTF-8" { return }
        setlocale(LC_CTYPE, "C.UTF-8")
    }

    /// Columns `scalar` takes: 0 for combining marks, 1 or 2 for printable characters, nil for control characters.
    static func of(_ scalar: Unicode.Scalar) -> Int? {
        let value = scalar.value
        if value < 0x20 || value == 0x7F { return nil }
        if value < 0x7F { return 1 }
        let width = Int(vce_wcwidth(wchar_t(bitPattern: value)))
        if width >= 0 { return width }
        // Unassigned or private-use scalars (wcwidth -1) that are not C1 controls: one column, as most terminals.
        return (0x80...0x9F).contains(value) ? nil : 1
    }
}

/// The rows that output text occupies, word-wrapped at a width, with the last incomplete row kept apart.
struct OutputLayout {
    /// One unit of a row: a character (with any combining marks) or a zero-width escape sequence.
    struct Cell: Equatable {
        var text: String
        var width: Int
        var isSpace: Bool { text == " " }
    }

    /// Terminal columns (at least 1).
    private(set) var columns: Int
    /// The incomplete last row.
    private(set) var partial: [Cell] = []
    /// Width of `partial` in columns.
    private(set) var partialWidth = 0

    private var pendingEscape: String?
    private static let longestEscape = 256
    private var pendingCarriageReturn = false

    /// An empty layout `columns` wide.
    init(columns: Int) {
        self.columns = max(1, columns)
    }

    /// The partial row as text to draw.
    var partialText: String { partial.map(\.text).joined() }

    /// True when the partial row contains an escape sequence (its colours must be reset after it).
    var partialHasEscapes: Bool { partial.contains { $0.width == 0 && $0.text.first == "\u{1B}" } }

    /// Adds `text` and returns the rows it completed, in order (each without a line break).
    mutating func append(_ text: String) -> [String] {
        var rows: [String] = []
        for scalar in text.unicodeScalars { add(scalar, into: &rows) }
        return rows
    }

    /// Completes the partial row (if it has anything) and returns it.
    mutating func finishRow() -> String? {
        pendingCarriageReturn = false
        guard !partial.isEmpty else { return nil }
        return commit()
    }

    /// Changes the width; the partial row is laid out again and returns the rows that no longer fit.
    mutating func setColumns(_ newColumns: Int) -> [String] {
        columns = max(1, newColumns)
        let cells = partial
        partial = []
        partialWidth = 0
        var rows: [String] = []
        for cell in cells { place(cell, into: &rows) }
        return rows
    }

    private mutating func add(_ scalar: Unicode.Scalar, into rows: inout [String]) {
        if var escape = pendingEscape {
            escape.unicodeScalars.append(scalar)
            if Self.escapeIsComplete(escape) {
                pendingEscape = nil
                place(Cell(text: escape, width: 0), into: &rows)
            } else {
                // A sequence that never ends is garbage: drop it rather than swallow the text after it.
                pendingEscape = escape.unicodeScalars.count > Self.longestEscape ? nil : escape
            }
            return
        }
        if pendingCarriageReturn {
            pendingCarriageReturn = false
            if scalar != "\n" {
                partial = []
                partialWidth = 0
            }
        }
        switch scalar {
        case "\n":
            rows.append(commit())
        case "\r":
            pendingCarriageReturn = true
        case "\t":
            let stop = (partialWidth / 8 + 1) * 8
            for _ in partialWidth..<min(stop, columns) { place(Cell(text: " ", width: 1), into: &rows) }
        case "\u{1B}":
            pendingEscape = "\u{1B}"
        default:
            guard let width = TerminalWidth.of(scalar) else { return }
            if width == 0, let last = partial.indices.last, partial[last].width > 0 {
                partial[last].text.unicodeScalars.append(scalar)
                return
            }
            place(Cell(text: String(scalar), width: width), into: &rows)
        }
    }

    /// Puts `cell` at the end of the partial row, committing rows (at the last space, or hard) when it overflows.
    private mutating func place(_ cell: Cell, into rows: inout [String]) {
        if cell.width > 0 && partialWidth + cell.width > columns {
            if cell.isSpace {
                rows.append(commit())
                return
            }
            if let space = partial.lastIndex(where: \.isSpace), space > 0 {
                let tail = Array(partial[(space + 1)...])
                partial.removeSubrange(space...)
                rows.append(commit())
                for moved in tail { place(moved, into: &rows) }
            } else {
                rows.append(commit())
            }
        }
        partial.append(cell)
        partialWidth += cell.width
    }

    private mutating func commit() -> String {
        let row = partialText
        partial = []
        partialWidth = 0
        return row
    }

    /// True when `escape` (starting with ESC) is a whole sequence: CSI up to its final byte, OSC up to BEL or
    /// ESC \, or ESC and one character.
    static func escapeIsComplete(_ escape: String) -> Bool {
        let scalars = Array(escape.unicodeScalars)
        guard scalars.count >= 2 else { return false }
        switch scalars[1] {
        case "[":
            guard scalars.count >= 3, let last = scalars.last else { return false }
            return (0x40...0x7E).contains(last.value)
        case "]":
            guard let last = scalars.last, scalars.count >= 3 else { return false }
            return last == "\u{07}" || (last == "\\" && scalars[scalars.count - 2] == "\u{1B}")
        default:
            return true
        }
    }
}

/// Where libedit draws its prompt and input line, row by row, at a terminal width.
struct InputLayout {
    /// Row (0 = the prompt's first row) and column of the cursor.
    var cursorRow: Int
    /// Column of the cursor.
    var cursorColumn: Int
    /// The last row the prompt and line occupy (libedit's r_newcv: a line that exactly fills its last row has the
    /// cursor, and this, on the empty row after it).
    var lastRow: Int

    /// The layout of `prompt` (visible characters only) followed by `line`, with the cursor before `line[cursor]`.
    init(prompt: [Unicode.Scalar], line: [Unicode.Scalar], cursor: Int, columns: Int) {
        let columns = max(1, columns)
        var row = 0
        var column = 0
        var cursorAt: (Int, Int)?

        func put(width: Int) {
            if column + width > columns && width > 1 {
                row += 1
                column = 0
            }
            column += width
            if column >= columns {
                row += 1
                column = 0
            }
        }

        func add(_ scalar: Unicode.Scalar) {
            switch scalar {
            case "\t":
                repeat { put(width: 1) } while column % 8 != 0
            case "\n":
                row += 1
                column = 0
            default:
                if let width = TerminalWidth.of(scalar) {
                    put(width: width)
                } else if scalar.value < 0x100 {
                    put(width: 1)  // ^X
                    put(width: 1)
                } else {
                    for _ in 0..<(3 + max(4, String(scalar.value, radix: 16).count)) { put(width: 1) }  // \U+XXXX
                }
            }
        }

        for scalar in prompt { add(scalar) }
        for (index, scalar) in line.enumerated() {
            if index == cursor {
                var at = (row, column)
                if let width = TerminalWidth.of(scalar), width > 1, column + width > columns { at = (row + 1, 0) }
                cursorAt = at
            }
            add(scalar)
        }
        let end = (row, column)
        let cursorPosition = cursorAt ?? end
        self.cursorRow = cursorPosition.0
        self.cursorColumn = cursorPosition.1
        self.lastRow = end.0
    }
}
