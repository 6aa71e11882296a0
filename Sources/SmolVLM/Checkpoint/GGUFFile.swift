// Reader for GGUF files (ggml docs/gguf.md; llama.cpp ggml/src/gguf.cpp `gguf_init_from_file_impl`; gguf-py
// `GGUFReader`). The file is memory-mapped read-only; opening it parses the header, every metadata key/value and
// the tensor table, and checks that every tensor's data lies inside the file. Tensors are dequantised to f32 on
// request (`loadTensor`), in PyTorch layout.
//
// Layout (little-endian):
//   "GGUF" | u32 version (2, 3) | u64 tensor count | u64 metadata count
//   metadata × count:  string key | u32 value type | value            (string = u64 length + UTF-8 bytes)
//   tensor info × count: string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type | u64 offset
//   padding to `general.alignment` (default 32) | data section (each tensor at data start + offset)
//
// A truncated, corrupt or hostile file throws `GGUFError`; nothing here traps on file contents or reads outside
// the mapping. (A file truncated by another process *while* it is mapped can still raise SIGBUS: mmap's nature.)

import Foundation
import Kernels

/// A GGUF file: metadata, tensor table and on-demand f32 tensors.
public struct GGUFFile: Sendable {
    /// The file.
    public let url: URL
    /// GGUF format version (2 or 3).
    public let version: Int
    /// Every metadata key/value.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// The tensor table, in file order.
    public let tensors: [GGUFTensorInfo]
    /// Alignment of the data section and of every tensor offset (`general.alignment`, default 32).
    public let alignment: Int
    /// Where the data section starts, in bytes from the start of the file.
    public let dataOffset: Int
    /// Size of the file in bytes.
    public var byteCount: Int { mapping.size }

    private let mapping: GGUFMapping
    private let tensorIndex: [String: Int]

    /// The alignment llama.cpp uses when `general.alignment` is absent (`GGUF_DEFAULT_ALIGNMENT`).
    public static let defaultAlignment = 32
    /// Nesting limit for arrays of arrays (llama.cpp writes none; a bound keeps a hostile file from recursing deep).
    static let maximumArrayDepth = 8
    /// ggml's `GGML_MAX_DIMS`.
    static let maximumDimensions = 4

    /// Maps the file at `url` and parses its header, metadata and tensor table.
    public init(contentsOf url: URL) throws {
        let mapping = try GGUFMapping(path: url.path)
        self.url = url
        self.mapping = mapping
        var reader = GGUFByteReader(base: mapping.base, size: mapping.size, path: url.path)

        // Header.
        let magic = try reader.uint32("the GGUF magic")
        guard magic == 0x4655_4747 else {  // "GGUF" read little-endian
            throw GGUFError(
                .notGGUF, path: url.path,
                "not a GGUF file: it starts with \(Self.describeMagic(mapping)) instead of \"GGUF\"; "
                    + "check that the path names a .gguf model file")
        }
        let rawVersion = try reader.uint32("the GGUF version")
        if rawVersion != 0 && rawVersion & 0xFFFF == 0 {
            throw GGUFError(
                .unsupportedVersion, path: url.path,
                "a big-endian GGUF file (version \(rawVersion.byteSwapped)); Vigil reads little-endian GGUF only, "
                    + "convert the model again without --bigendian")
        }
        guard rawVersion == 2 || rawVersion == 3 else {
            throw GGUFError(
                .unsupportedVersion, path: url.path,
                "GGUF version \(rawVersion); Vigil reads versions 2 and 3, convert the model with a current llama.cpp")
        }
        version = Int(rawVersion)
        let tensorCount = try reader.count("the tensor count")
        let metadataCount = try reader.count("the metadata count")

        // Metadata.
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for index in 0..<metadataCount {
            let key = try reader.string("metadata key #\(index)")
            let typeOffset = reader.offset
            let rawType = try reader.uint32("the value type of metadata key '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError(
                    .corrupt, path: url.path,
                    "metadata key '\(key)' has value type \(rawType) at byte \(typeOffset), which GGUF does not "
                        + "define; the file is damaged")
            }
            let value = try Self.readValue(type, of: key, from: &reader, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw GGUFError(.corrupt, path: url.path, "metadata key '\(key)' appears twice; the file is damaged")
            }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        // Alignment.
        var alignment = Self.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard let a = value.integer, a > 0, a.nonzeroBitCount == 1 else {
                throw GGUFError(
                    .corrupt, path: url.path,
                    "general.alignment is \(value) (\(value.typeDescription)); it must be a power of two; "
                        + "the file is damaged")
            }
            alignment = a
        }
        self.alignment = alignment

        // Tensor table.
        var tensors: [GGUFTensorInfo] = []
        var tensorIndex: [String: Int] = [:]
        for index in 0..<tensorCount {
            let info = try Self.readTensorInfo(index: index, from: &reader, path: url.path)
            guard tensorIndex.updateValue(tensors.count, forKey: info.name) == nil else {
                throw GGUFError(.corrupt, path: url.path, "tensor '\(info.name)' appears twice; the file is damaged")
            }
            tensors.append(info)
        }

        // Data section: starts at the next multiple of the alignment; every tensor must lie inside the file.
        let (padded, overflow) = reader.offset.addingReportingOverflow(alignment - 1)
        let dataOffset = overflow ? Int.max : padded / alignment * alignment
        for info in tensors {
            guard info.offset % alignment == 0 else {
                throw GGUFError(
                    .corrupt, path: url.path,
                    "tensor '\(info.name)' starts at data offset \(info.offset), which is not a multiple of the "
                        + "alignment \(alignment); the file is damaged")
            }
            let (start, o1) = dataOffset.addingReportingOverflow(info.offset)
            let (end, o2) = start.addingReportingOverflow(info.byteCount)
            guard !o1, !o2, end <= mapping.size else {
                throw GGUFError(
                    .truncated, path: url.path,
                    "the file ends inside the data of tensor '\(info.name)' (\(info.type), shape \(info.shape)): "
                        + "it needs bytes up to \(o1 || o2 ? "beyond \(Int.max)" : "\(end)") but the file has "
                        + "\(mapping.size) bytes; the file is incomplete or damaged, download it again")
            }
        }
        self.tensors = tensors
        self.tensorIndex = tensorIndex
        self.dataOffset = dataOffset
    }

    /// The tensor table entry named `name`, if any.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's data, dequantised to a new f32 tensor of shape `info.shape` (PyTorch layout, outermost first).
    /// Throws for a type other than F32, F16, BF16, Q8_0, Q4_0 and Q4_1.
    public func loadTensor(_ info: GGUFTensorInfo) throws -> Tensor {
        guard info.type.isDequantizable else {
            let supported = GGUFTensorType.dequantizable.map(\.name).sorted().joined(separator: ", ")
            throw GGUFError(
                .unsupportedTensorType, path: url.path,
                "tensor '\(info.name)' is stored as \(info.type), which Vigil cannot load (it loads \(supported)); "
                    + "use a GGUF quantised to one of those types")
        }
        let bytes = try rawBytes(of: info)
        let result = Tensor(zeros: info.shape)
        GGUFDequantizer.dequantize(info.type, from: bytes.baseAddress!, into: result.floats, count: info.elementCount)
        return result
    }

    /// The bytes of `info`'s data in the mapping (valid while this file value lives), bounds-checked again so an
    /// info taken from another file cannot read outside this one.
    func rawBytes(of info: GGUFTensorInfo) throws -> UnsafeRawBufferPointer {
        guard let blockSize = info.type.blockSize, let blockBytes = info.type.blockBytes,
            info.elementCount % blockSize == 0, info.byteCount == info.elementCount / blockSize * blockBytes,
            info.offset >= 0, info.offset <= mapping.size - dataOffset,
            info.byteCount <= mapping.size - dataOffset - info.offset
        else {
            throw GGUFError(
                .corrupt, path: url.path,
                "tensor '\(info.name)' (offset \(info.offset), \(info.byteCount) bytes) does not lie inside this "
                    + "file's data section; was the tensor info taken from another file?")
        }
        return UnsafeRawBufferPointer(start: mapping.base + dataOffset + info.offset, count: info.byteCount)
    }

    // MARK: - Parsing

    /// Reads one metadata value of `type` (arrays recursively, at most `maximumArrayDepth` deep).
    private static func readValue(
        _ type: GGUFValueType, of key: String, from reader: inout GGUFByteReader, depth: Int
    ) throws -> GGUFValue {
        let what = "the value of metadata key '\(key)'"
        switch type {
        case .uint8: return .uint8(try reader.uint8(what))
        case .int8: return .int8(Int8(bitPattern: try reader.uint8(what)))
        case .uint16: return .uint16(try reader.uint16(what))
        case .int16: return .int16(Int16(bitPattern: try reader.uint16(what)))
        case .uint32: return .uint32(try reader.uint32(what))
        case .int32: return .int32(Int32(bitPattern: try reader.uint32(what)))
        case .float32: return .float32(Float(bitPattern: try reader.uint32(what)))
        case .uint64: return .uint64(try reader.uint64(what))
        case .int64: return .int64(Int64(bitPattern: try reader.uint64(what)))
        case .float64: return .float64(Double(bitPattern: try reader.uint64(what)))
        case .bool:
            let start = reader.offset
            let byte = try reader.uint8(what)
            guard byte <= 1 else {
                throw GGUFError(
                    .corrupt, path: reader.path,
                    "\(what) at byte \(start) is a bool stored as \(byte) (must be 0 or 1); the file is damaged")
            }
            return .bool(byte == 1)
        case .string:
            return .string(try reader.string(what))
        case .array:
            let start = reader.offset
            let rawElementType = try reader.uint32("the element type of \(what)")
            guard let elementType = GGUFValueType(rawValue: rawElementType) else {
                throw GGUFError(
                    .corrupt, path: reader.path,
                    "\(what) at byte \(start) is an array of value type \(rawElementType), which GGUF does not "
                        + "define; the file is damaged")
            }
            guard depth < maximumArrayDepth || elementType != .array else {
                throw GGUFError(
                    .corrupt, path: reader.path,
                    "\(what) nests arrays more than \(maximumArrayDepth) deep; the file is damaged")
            }
            let count = try reader.count("the element count of \(what)")
            guard count <= reader.remaining / elementType.minimumEncodedSize else {
                throw GGUFError(
                    .truncated, path: reader.path,
                    "the file ends inside \(what): it is an array of \(count) \(elementType) values at byte "
                        + "\(start) but only \(reader.remaining) bytes follow; the file is incomplete or damaged, "
                        + "download it again")
            }
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            switch elementType {
            case .string:
                // The vocabulary and the merges: ~50k strings each, so this path avoids the generic recursion.
                for index in 0..<count {
                    values.append(.string(try reader.string("element \(index) of \(what)")))
                }
            default:
                for _ in 0..<count {
                    values.append(try readValue(elementType, of: key, from: &reader, depth: depth + 1))
                }
            }
            return .array(elementType: elementType, values: values)
        }
    }

    /// Reads one tensor table entry and checks its dimensions and type.
    private static func readTensorInfo(
        index: Int, from reader: inout GGUFByteReader, path: String
    ) throws -> GGUFTensorInfo {
        let name = try reader.string("the name of tensor #\(index)")
        let what = "the table entry of tensor '\(name)'"
        let dimensionCount = Int(try reader.uint32(what))
        guard (1...maximumDimensions).contains(dimensionCount) else {
            throw GGUFError(
                .corrupt, path: path,
                "tensor '\(name)' has \(dimensionCount) dimensions; ggml tensors have 1 to \(maximumDimensions); "
                    + "the file is damaged")
        }
        var dimensions: [Int] = []
        var elementCount = 1
        var overflow = false
        for _ in 0..<dimensionCount {
            let n = try reader.count(what)
            dimensions.append(n)
            let (product, o) = elementCount.multipliedReportingOverflow(by: n)
            elementCount = product
            overflow = overflow || o
        }
        let rawType = try reader.uint32(what)
        let offset = try reader.count(what)
        let type = GGUFTensorType(rawValue: rawType)
        guard let blockSize = type.blockSize, let blockBytes = type.blockBytes else {
            throw GGUFError(
                .unsupportedTensorType, path: path,
                "tensor '\(name)' has ggml type id \(rawType), which Vigil does not know; the file may come from a "
                    + "newer llama.cpp than Vigil supports")
        }
        guard !overflow, elementCount <= Int.max / blockBytes else {
            throw GGUFError(
                .corrupt, path: path, "tensor '\(name)' has impossible dimensions \(dimensions); the file is damaged")
        }
        guard dimensions[0] % blockSize == 0 else {
            throw GGUFError(
                .corrupt, path: path,
                "tensor '\(name)' is \(type) with rows of \(dimensions[0]) elements, not a multiple of its block "
                    + "size \(blockSize); the file is damaged")
        }
        return GGUFTensorInfo(
            name: name, dimensions: dimensions, type: type, offset: offset, elementCount: elementCount,
            byteCount: elementCount / blockSize * blockBytes)
    }

    /// The first bytes of the file, for the bad-magic message.
    private static func describeMagic(_ mapping: GGUFMapping) -> String {
        let bytes = UnsafeRawBufferPointer(start: mapping.base, count: min(4, mapping.size))
        return bytes.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + String(format: "%02x", $0) }
            .joined().debugDescription
    }
}

// MARK: - Memory mapping

/// A read-only private mapping of a whole file, unmapped when the last reference goes.
final class GGUFMapping: @unchecked Sendable {
    /// Start of the file's bytes (never written).
    let base: UnsafeRawPointer
    /// Length of the file.
    let size: Int

    /// Maps the regular file at `path`; throws `GGUFError` if it cannot be opened, is empty or is not a file.
    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw GGUFError(
                .unreadable, path: path, "cannot open the file (\(String(cString: strerror(errno)))); check the path")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw GGUFError(.unreadable, path: path, "cannot stat the file (\(String(cString: strerror(errno))))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw GGUFError(.unreadable, path: path, "not a regular file; give the path of a .gguf file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            throw GGUFError(
                .truncated, path: path, "the file is empty; the download failed or was interrupted, download it again")
        }
        guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
            pointer != UnsafeMutableRawPointer(bitPattern: -1)
        else {
            throw GGUFError(.unreadable, path: path, "cannot map the file (\(String(cString: strerror(errno))))")
        }
        base = UnsafeRawPointer(pointer)
        self.size = size
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), size)
    }
}
