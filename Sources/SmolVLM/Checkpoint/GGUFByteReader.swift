// A bounds-checked little-endian cursor over the bytes of a mapped GGUF file. Every read checks that it stays
// inside the file and throws `GGUFError` (`.truncated`) naming what was being read and where, so a truncated or
// corrupt file never reads out of bounds.

import Foundation

/// Reads GGUF primitives from `base[0..<size]`, advancing `offset`.
struct GGUFByteReader {
    /// Start of the file's bytes.
    let base: UnsafeRawPointer
    /// Length of the file in bytes.
    let size: Int
    /// The file, for messages.
    let path: String
    /// Where the next read starts.
    var offset = 0

    /// Bytes left after `offset`.
    var remaining: Int { size - offset }

    /// Checks that `count` bytes from `offset` are inside the file, returns their start and advances past them.
    mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawPointer {
        guard count >= 0, count <= size - offset else {
            throw GGUFError(
                .truncated, path: path,
                "the file ends inside \(what()): it needs \(count) bytes at byte \(offset) but the file has "
                    + "\(size) bytes; the file is incomplete or damaged, download it again")
        }
        let start = base + offset
        offset += count
        return start
    }

    /// Reads a `UInt8`.
    mutating func uint8(_ what: @autoclosure () -> String) throws -> UInt8 {
        try take(1, what()).load(as: UInt8.self)
    }

    /// Reads a little-endian `UInt16`.
    mutating func uint16(_ what: @autoclosure () -> String) throws -> UInt16 {
        UInt16(littleEndian: try take(2, what()).loadUnaligned(as: UInt16.self))
    }

    /// Reads a little-endian `UInt32`.
    mutating func uint32(_ what: @autoclosure () -> String) throws -> UInt32 {
        UInt32(littleEndian: try take(4, what()).loadUnaligned(as: UInt32.self))
    }

    /// Reads a little-endian `UInt64`.
    mutating func uint64(_ what: @autoclosure () -> String) throws -> UInt64 {
        UInt64(littleEndian: try take(8, what()).loadUnaligned(as: UInt64.self))
    }

    /// Reads a `UInt64` that must fit an `Int` (a count, size or offset).
    mutating func count(_ what: @autoclosure () -> String) throws -> Int {
        let start = offset
        let value = try uint64(what())
        guard let result = Int(exactly: value) else {
            throw GGUFError(
                .corrupt, path: path,
                "\(what()) at byte \(start) is \(value), which cannot be right; the file is damaged")
        }
        return result
    }

    /// Reads a GGUF string: a `UInt64` byte length, then that many bytes of UTF-8 (no terminator).
    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let start = offset
        let length = try uint64("the length of \(what())")
        guard length <= UInt64(remaining) else {
            throw GGUFError(
                .truncated, path: path,
                "the file ends inside \(what()): its length at byte \(start) is \(length) but only \(remaining) "
                    + "bytes follow; the file is incomplete or damaged, download it again")
        }
        let bytes = try take(Int(length), what())
        let buffer = UnsafeBufferPointer(start: bytes.assumingMemoryBound(to: UInt8.self), count: Int(length))
        guard let value = String(validating: buffer, as: UTF8.self) else {
            throw GGUFError(
                .corrupt, path: path, "\(what()) at byte \(start) is not valid UTF-8; the file is damaged")
        }
        return value
    }
}
