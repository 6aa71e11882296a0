// Helpers shared by the harnesses: splitting one fuzz input into several files or fields, reading numbers from
// bytes, and a private scratch folder (on tmpfs when there is one) for the harnesses that must hand a path to the
// code under test.

import Foundation

/// Splits fuzz inputs into parts and reads small numbers from them.
enum FuzzInput {
    /// Separates the parts of an input that carries several files or fields (a line of its own: "--8<--").
    static let separator = Array("\n--8<--\n".utf8)

    /// The first `count - 1` parts of `bytes` cut at `separator`, and the rest as the last part; missing parts are
    /// empty.
    static func parts(_ bytes: [UInt8], count: Int) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var start = 0
        var index = 0
        while parts.count < count - 1, index + separator.count <= bytes.count {
            if bytes[index] == separator[0], bytes[index..<index + separator.count].elementsEqual(separator) {
                parts.append(Array(bytes[start..<index]))
                index += separator.count
                start = index
            } else {
                index += 1
            }
        }
        parts.append(Array(bytes[min(start, bytes.count)...]))
        while parts.count < count { parts.append([]) }
        return parts
    }

    /// The bytes as text, with ill-formed UTF-8 repaired (U+FFFD), as `String(decoding:)` does.
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Little-endian integers read from `bytes` in turn; 0 once the bytes run out.
    struct Numbers {
        private let bytes: [UInt8]
        private var offset = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        /// The next byte.
        mutating func byte() -> UInt8 {
            guard offset < bytes.count else { return 0 }
            defer { offset += 1 }
            return bytes[offset]
        }

        /// The next 8 bytes as a `UInt64`.
        mutating func uint64() -> UInt64 {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 8) { value |= UInt64(byte()) << UInt64(shift) }
            return value
        }

        /// The next 8 bytes as a `Double` bit pattern (any value: NaN, infinities, subnormals).
        mutating func double() -> Double { Double(bitPattern: uint64()) }

        /// Whether bytes are left.
        var isEmpty: Bool { offset >= bytes.count }
    }
}

/// A folder private to this process for the files harnesses write (under /dev/shm when it exists), removed at exit.
enum Scratch {
    /// The process's scratch folder.
    static let root: URL = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let url = URL(fileURLWithPath: base, isDirectory: true).appendingPathComponent("vigil-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit {
            try? FileManager.default.removeItem(at: Scratch.root)
        }
        return url
    }()

    /// An empty folder `name` inside the scratch folder (its old contents removed).
    static func emptyFolder(_ name: String) -> URL {
        let url = root.appendingPathComponent(name, isDirectory: true)
        try? FileManager.default.removeItem(at: url)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes `bytes` to `name` in `folder` and returns the file's URL.
    @discardableResult
    static func write(_ bytes: [UInt8], to name: String, in folder: URL) -> URL {
        let url = folder.appendingPathComponent(name)
        try? FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: url.path, contents: Data(bytes))
        return url
    }
}

/// Where the checkout's fixtures are (the harnesses that need real files read them from there).
enum Repository {
    /// The checkout's root folder (three levels above this file).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures/<path>`.
    static func fixture(_ path: String) -> URL {
        root.appendingPathComponent("Tests/Fixtures").appendingPathComponent(path)
    }
}

/// CRC-32C (Castagnoli), as the feature memory's files use, so harnesses can make checksums hold and reach the
/// code behind them.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0x82F6_3B78 & (0 &- (crc & 1))) }
        return crc
    }

    /// The checksum of `bytes`, continuing from `crc`.
    static func checksum(_ bytes: ArraySlice<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
        var value = ~crc
        for byte in bytes { value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8) }
        return ~value
    }
}
