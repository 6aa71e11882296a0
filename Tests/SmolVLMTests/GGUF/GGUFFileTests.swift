// GGUFFile: header, metadata of every value type, tensor table, alignment, and the errors a truncated, corrupt or
// unsupported file must raise (never a trap, never a read out of bounds).

import Foundation
import Kernels
import Testing
import TestSupport

@testable import SmolVLM

@Suite struct GGUFFileTests {
    /// A file with one metadata value of every type, nested arrays, and three tensors.
    static func sampleBuilder() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", .string("llama"))
        b.add("u8", .uint8(200))
        b.add("i8", .int8(-5))
        b.add("u16", .uint16(60_000))
        b.add("i16", .int16(-30_000))
        b.add("u32", .uint32(4_000_000_000))
        b.add("i32", .int32(-2_000_000_000))
        b.add("f32", .float32(0.25))
        b.add("bool", .bool(true))
        b.add("string", .string("héllo ✓"))
        b.add("u64", .uint64(1 << 40))
        b.add("i64", .int64(-(1 << 40)))
        b.add("f64", .float64(-1.5e300))
        b.add("strings", .array(elementType: .string, values: [.string("a"), .string(""), .string("Ġthe")]))
        b.add("ints", .array(elementType: .int32, values: [.int32(3), .int32(-1)]))
        b.add("empty", .array(elementType: .float32, values: []))
        b.add(
            "nested",
            .array(
                elementType: .array,
                values: [
                    .array(elementType: .uint8, values: [.uint8(1), .uint8(2)]),
                    .array(elementType: .string, values: [.string("x")]),
                ]))
        b.addF32("norm.weight", shape: [4], values: [1, 2, 3, 4])
        b.addF32("matrix.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        b.addRaw(
            "q.weight", shape: [1, 32], type: .q8_0, data: GGMLBlock.q8_0(d: 0.5, (0..<32).map { Int8($0 - 16) }))
        return b
    }

    /// Opens the bytes of `builder` from a temporary file.
    static func open(_ builder: GGUFBuilder) throws -> GGUFFile {
        try open(bytes: builder.build())
    }

    /// Opens `bytes` from a temporary file.
    static func open(bytes: [UInt8]) throws -> GGUFFile {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let url = folder.url.appendingPathComponent("model.gguf")
        try Data(bytes).write(to: url)
        return try GGUFFile(contentsOf: url)
    }

    /// The `GGUFError` that opening `builder` throws.
    static func openError(_ builder: GGUFBuilder) -> GGUFError? {
        openError(bytes: builder.build())
    }

    /// The `GGUFError` that opening `bytes` throws.
    static func openError(bytes: [UInt8]) -> GGUFError? {
        #expect(throws: GGUFError.self) { _ = try open(bytes: bytes) }
    }
}

// MARK: - Parsing

extension GGUFFileTests {
    @Test func readsTheHeaderAndEveryMetadataType() throws {
        let file = try Self.open(Self.sampleBuilder())
        #expect(file.version == 3)
        #expect(file.alignment == 32)
        #expect(file.metadataKeys.first == "general.architecture" && file.metadataKeys.count == 17)
        let m = file.metadata
        #expect(m["u8"] == .uint8(200))
        #expect(m["i8"] == .int8(-5))
        #expect(m["u16"] == .uint16(60_000))
        #expect(m["i16"] == .int16(-30_000))
        #expect(m["u32"] == .uint32(4_000_000_000))
        #expect(m["i32"] == .int32(-2_000_000_000))
        #expect(m["f32"] == .float32(0.25))
        #expect(m["bool"] == .bool(true))
        #expect(m["string"] == .string("héllo ✓"))
        #expect(m["u64"] == .uint64(1 << 40))
        #expect(m["i64"] == .int64(-(1 << 40)))
        #expect(m["f64"] == .float64(-1.5e300))
        #expect(m["strings"]?.strings == ["a", "", "Ġthe"])
        #expect(m["ints"]?.integers == [3, -1])
        #expect(m["empty"] == .array(elementType: .float32, values: []))
        #expect(m["nested"]?.array?.count == 2)
        #expect(m["nested"]?.array?[1].strings == ["x"])
    }

    @Test func typedAccessorsNameTheKeyOnMismatch() throws {
        let file = try Self.open(Self.sampleBuilder())
        #expect(try file.requiredInteger("u32") == 4_000_000_000)
        #expect(try file.requiredFloat("f32") == 0.25)
        #expect(try file.optionalString("absent") == nil)
        let wrongType = #expect(throws: GGUFError.self) { try file.requiredInteger("string") }
        #expect(wrongType?.code == .invalidValue)
        #expect(wrongType?.description.contains("'string' is string, expected an integer") == true)
        let missing = #expect(throws: GGUFError.self) { try file.requiredStrings("tokenizer.ggml.tokens") }
        #expect(missing?.code == .missingKey)
        #expect(missing?.description.hasPrefix(file.url.path) == true)
    }

    @Test func readsTheTensorTableInPyTorchOrder() throws {
        let file = try Self.open(Self.sampleBuilder())
        #expect(file.tensors.map(\.name) == ["norm.weight", "matrix.weight", "q.weight"])
        let matrix = try #require(file.tensor(named: "matrix.weight"))
        #expect(matrix.dimensions == [3, 2])
        #expect(matrix.shape == [2, 3])
        #expect(matrix.type == .f32 && matrix.elementCount == 6 && matrix.byteCount == 24)
        #expect(matrix.offset % 32 == 0)
        #expect(file.dataOffset % 32 == 0)
        let loaded = try file.loadTensor(matrix)
        #expect(loaded.shape == [2, 3] && loaded.dtype == .f32)
        #expect(loaded.toArray() == [1, 2, 3, 4, 5, 6])
        let q = try file.loadTensor(try #require(file.tensor(named: "q.weight")))
        #expect(q.shape == [1, 32])
        #expect(q.toArray() == (0..<32).map { Float($0 - 16) * 0.5 })
    }

    @Test func honoursGeneralAlignment() throws {
        var b = Self.sampleBuilder()
        b.alignment = 64
        b.add("general.alignment", .uint32(64))
        let file = try Self.open(b)
        #expect(file.alignment == 64)
        #expect(file.dataOffset % 64 == 0)
        #expect(file.tensors.allSatisfy { $0.offset % 64 == 0 })
        #expect(try file.loadTensor(file.tensors[1]).toArray() == [1, 2, 3, 4, 5, 6])
    }

    @Test func readsVersion2() throws {
        var b = Self.sampleBuilder()
        b.version = 2
        #expect(try Self.open(b).version == 2)
    }
}

// MARK: - Errors

extension GGUFFileTests {
    @Test func everyTruncationThrowsTruncated() throws {
        let full = Self.sampleBuilder().build()
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let url = folder.url.appendingPathComponent("cut.gguf")
        for length in 0..<full.count {
            try Data(full[0..<length]).write(to: url)
            let error = #expect(throws: GGUFError.self, "prefix of \(length) bytes") {
                _ = try GGUFFile(contentsOf: url)
            }
            #expect(error?.code == .truncated, "prefix of \(length) bytes: \(String(describing: error))")
            #expect(error?.path == url.path)
        }
    }

    @Test func truncatedMessageSaysWhatAndWhere() throws {
        var b = GGUFBuilder()
        b.add("general.architecture", .string("llama"))
        b.addF32("big.weight", shape: [64], values: Array(repeating: 1, count: 64))
        let cut = Array(b.build().dropLast(10))
        let error = try #require(Self.openError(bytes: cut))
        #expect(error.code == .truncated)
        #expect(error.description.contains("tensor 'big.weight'"))
        #expect(error.description.contains("download it again"))
    }

    @Test func randomCorruptionNeverTraps() throws {
        // Overwrite random bytes of a valid file: opening and loading must either work or throw GGUFError.
        let original = Self.sampleBuilder().build()
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let url = folder.url.appendingPathComponent("corrupt.gguf")
        var rng = TestRandom(seed: 7)
        for _ in 0..<1500 {
            var bytes = original
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            try Data(bytes).write(to: url)
            do {
                let file = try GGUFFile(contentsOf: url)
                for info in file.tensors { _ = try? file.loadTensor(info) }
            } catch is GGUFError {
                // expected for most corruptions
            }
        }
    }

    @Test func badMagicIsNotGGUF() throws {
        var b = Self.sampleBuilder()
        b.magic = Array("GGML".utf8)
        let error = try #require(Self.openError(b))
        #expect(error.code == .notGGUF)
        #expect(error.description.contains("not a GGUF file") && error.description.contains("\"GGML\""))
    }

    @Test func unsupportedVersionsAreRefused() throws {
        for version: UInt32 in [1, 4, UInt32(3).byteSwapped] {
            var b = Self.sampleBuilder()
            b.version = version
            let error = try #require(Self.openError(b))
            #expect(error.code == .unsupportedVersion, "version \(version)")
        }
    }

    @Test func missingOrEmptyFilesAreReported() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let missing = folder.url.appendingPathComponent("absent.gguf")
        let error = #expect(throws: GGUFError.self) { _ = try GGUFFile(contentsOf: missing) }
        #expect(error?.code == .unreadable && error?.description.contains("absent.gguf") == true)
        let directory = #expect(throws: GGUFError.self) { _ = try GGUFFile(contentsOf: folder.url) }
        #expect(directory?.code == .unreadable)
        #expect(Self.openError(bytes: [])?.code == .truncated)
    }

    @Test func unknownTensorTypeIdIsNamed() throws {
        var b = Self.sampleBuilder()
        b.tensors[0].type = 77
        let error = try #require(Self.openError(b))
        #expect(error.code == .unsupportedTensorType)
        #expect(error.description.contains("'norm.weight'") && error.description.contains("77"))
    }

    @Test func unsupportedTensorTypeThrowsAtLoad() throws {
        var b = Self.sampleBuilder()
        b.addRaw("k.weight", shape: [1, 256], type: .q4_K, data: Array(repeating: 0, count: 144))
        let file = try Self.open(b)
        let info = try #require(file.tensor(named: "k.weight"))
        let error = #expect(throws: GGUFError.self) { _ = try file.loadTensor(info) }
        #expect(error?.code == .unsupportedTensorType)
        #expect(error?.description.contains("'k.weight' is stored as Q4_K") == true)
        #expect(error?.description.hasPrefix(file.url.path) == true)
    }

    @Test func corruptTablesAreRefused() throws {
        func expectCorrupt(_ change: (inout GGUFBuilder) -> Void, _ expected: GGUFError.Code = .corrupt) throws {
            var b = Self.sampleBuilder()
            change(&b)
            let error = try #require(Self.openError(b))
            #expect(error.code == expected, "\(error)")
        }
        try expectCorrupt { $0.tensors[1].offsetOverride = 4 }  // misaligned
        try expectCorrupt({ $0.tensors[1].offsetOverride = 1 << 40 }, .truncated)  // beyond the end
        try expectCorrupt({ $0.tensors[1].offsetOverride = UInt64.max - 7 }, .corrupt)  // not an Int
        try expectCorrupt { $0.tensors[0].dimensions = [] }
        try expectCorrupt { $0.tensors[0].dimensions = [1, 1, 1, 1, 4] }
        try expectCorrupt { $0.tensors[0].dimensions = [1 << 62, 1 << 62] }  // element count overflows
        try expectCorrupt { $0.tensors[2].dimensions = [16, 2] }  // Q8_0 rows not a multiple of 32
        try expectCorrupt { $0.tensors.append($0.tensors[0]) }  // duplicate name
        try expectCorrupt { $0.add("u8", .uint8(1)) }  // duplicate key
        try expectCorrupt { $0.add("general.alignment", .uint32(48)) }  // not a power of two
        try expectCorrupt { $0.add("general.alignment", .string("32")) }
    }

    @Test func corruptMetadataBytesAreRefused() throws {
        let good = Self.sampleBuilder().build()
        // The type tag of the first value (after magic, version, counts and the key "general.architecture").
        let typeOffset = 4 + 4 + 8 + 8 + 8 + "general.architecture".utf8.count
        var badType = good
        badType[typeOffset] = 99
        #expect(Self.openError(bytes: badType)?.code == .corrupt)

        var badUTF8 = good
        badUTF8[4 + 4 + 8 + 8 + 8] = 0xFF  // first byte of the first key
        let utf8Error = Self.openError(bytes: badUTF8)
        #expect(utf8Error?.code == .corrupt && utf8Error?.description.contains("UTF-8") == true)

        var hugeArray = GGUFBuilder()
        hugeArray.add("a", .array(elementType: .uint64, values: [.uint64(1)]))
        var bytes = hugeArray.build()
        let countOffset = 4 + 4 + 8 + 8 + 8 + 1 + 4 + 4
        bytes.replaceSubrange(countOffset..<(countOffset + 8), with: SmolVLMTestBytes.uint64(1 << 60))
        #expect(Self.openError(bytes: bytes)?.code == .truncated)

        var badBool = GGUFBuilder()
        badBool.add("b", .bool(true))
        var boolBytes = badBool.build()
        boolBytes[4 + 4 + 8 + 8 + 8 + 1 + 4] = 2  // after the header, the key "b" and the type tag
        #expect(Self.openError(bytes: boolBytes)?.code == .corrupt)
    }

    @Test func tensorInfoFromAnotherFileCannotReadOutOfBounds() throws {
        var big = GGUFBuilder()
        big.addF32("a", shape: [8], values: Array(repeating: 0, count: 8))
        big.addF32("b", shape: [1024], values: Array(repeating: 1, count: 1024))
        let bigFile = try Self.open(big)
        var small = GGUFBuilder()
        small.addF32("a", shape: [8], values: Array(repeating: 0, count: 8))
        let smallFile = try Self.open(small)
        let error = #expect(throws: GGUFError.self) { _ = try smallFile.loadTensor(bigFile.tensors[1]) }
        #expect(error?.code == .corrupt)
    }
}

/// Byte helpers for the corruption tests.
enum SmolVLMTestBytes {
    static func uint64(_ v: UInt64) -> [UInt8] { bytes(of: v.littleEndian) }
}

