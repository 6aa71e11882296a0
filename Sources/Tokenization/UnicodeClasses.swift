// Classifies code points for the pre-tokenizer: the regex classes \p{L}, \p{N}, \s and Rust's char::is_numeric.
//
// The sets come from `UnicodeClassTables` (measured from tokenizers 0.23.3, see that file). Lookups are a table
// for the Basic Multilingual Plane (64 KiB, built once) and a binary search over the range lists above it.

/// The pre-tokenizer's view of one code point: its regex class and whether the Digits pre-tokenizer isolates it.
struct CharacterClass: Equatable {
    /// Raw bits: the low two bits are the `Kind`, bit 2 is "numeric".
    var bits: UInt8

    /// The class the GPT-2 regex sees; the four are disjoint.
    enum Kind: UInt8 {
        case other = 0, letter = 1, number = 2, space = 3
    }

    static let kindMask: UInt8 = 0b11
    static let numericBit: UInt8 = 0b100

    /// The GPT-2 regex class.
    var kind: Kind { Kind(rawValue: bits & Self.kindMask) ?? .other }
    /// Whether Rust's `char::is_numeric` holds (general category Nd, Nl or No in Rust's Unicode version).
    var isNumeric: Bool { bits & Self.numericBit != 0 }
}

enum UnicodeClasses {
    /// Class bits of every code point below U+10000.
    static let basicPlane: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 0x10000)
        func fill(_ ranges: [UInt32], _ bits: UInt8) {
            for pair in stride(from: 0, to: ranges.count, by: 2) where ranges[pair] < 0x10000 {
                for scalar in ranges[pair]...min(ranges[pair + 1], 0xFFFF) { table[Int(scalar)] |= bits }
            }
        }
        fill(UnicodeClassTables.letter, CharacterClass.Kind.letter.rawValue)
        fill(UnicodeClassTables.number, CharacterClass.Kind.number.rawValue)
        fill(UnicodeClassTables.space, CharacterClass.Kind.space.rawValue)
        fill(UnicodeClassTables.numeric, CharacterClass.numericBit)
        return table
    }()

    /// The class of a code point.
    static func classify(_ scalar: UInt32) -> CharacterClass {
        if scalar < 0x10000 { return CharacterClass(bits: basicPlane[Int(scalar)]) }
        var bits: UInt8 = 0
        if contains(UnicodeClassTables.letter, scalar) {
            bits = CharacterClass.Kind.letter.rawValue
        } else if contains(UnicodeClassTables.number, scalar) {
            bits = CharacterClass.Kind.number.rawValue
        } else if contains(UnicodeClassTables.space, scalar) {
            bits = CharacterClass.Kind.space.rawValue
        }
        if contains(UnicodeClassTables.numeric, scalar) { bits |= CharacterClass.numericBit }
        return CharacterClass(bits: bits)
    }

    /// Whether `scalar` lies in one of the inclusive [first, last] pairs of the sorted `ranges`.
    private static func contains(_ ranges: [UInt32], _ scalar: UInt32) -> Bool {
        var low = 0
        var high = ranges.count / 2  // search pairs [low, high)
        while low < high {
            let mid = (low + high) / 2
            if scalar < ranges[2 * mid] {
                high = mid
            } else if scalar > ranges[2 * mid + 1] {
                low = mid + 1
            } else {
                return true
            }
        }
        return false
    }
}
