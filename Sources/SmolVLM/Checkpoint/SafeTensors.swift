// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the tensor bytes. Every entry is
// checked against the file size and its shape before any byte is read, so a truncated or damaged file is an error,
// never an out-of-bounds read.

import Foundation
import Kernels

/// A read-only file mapped into memory for as long as any tensor borrows it.
public final class MappedFile: @unchecked Sendable {
    /// The file.
    public let url: URL
    /// Start of the mapping.
    public let base: UnsafeMutableRawPointer
    /// File size in bytes.
    public let size: Int

    /// Maps `url` read-only (copy-on-write private mapping, so borrowed tensors stay immutable).
    public init(url: URL) throws {
        self.url = url
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else {
            throw CheckpointError(location: url.path, problems: ["cannot open: \(String(cString: strerror(errno)))"])
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw CheckpointError(location: url.path, problems: ["cannot stat: \(String(cString: strerror(errno)))"])
        }
        size = Int(st.st_size)
        if size == 0 {
            base = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
            return
        }
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CheckpointError(location: url.path, problems: ["cannot map: \(String(cString: strerror(errno)))"])
        }
        base = p
    }

    deinit {
        if size == 0 { base.deallocate() } else { munmap(base, size) }
    }
}

/// One tensor entry of a safetensors header.
public struct SafeTensorsEntry: Sendable {
    /// The header's dtype string (`F32`, `BF16`, `I64`, …).
    public var dtype: String
    public var shape: [Int]
    /// Byte range in the data section.
    public var begin: Int
    public var end: Int

    /// Bytes per element of `dtype`, or nil when unknown.
    public static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F64", "I64", "U64": return 8
        case "F32", "I32", "U32": return 4
        case "F16", "BF16", "I16", "U16": return 2
        case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2": return 1
        default: return nil
        }
    }
}

/// A parsed, memory-mapped safetensors file.
public struct SafeTensorsFile: Sendable {
    public let file: MappedFile
    /// Tensor entries by name.
    public let entries: [String: SafeTensorsEntry]
    /// The `__metadata__` strings.
    public let metadata: [String: String]
    private let dataStart: Int

    /// Maps and validates `url`; throws a `CheckpointError` listing every problem of the header.
    public init(url: URL) throws {
        let file = try MappedFile(url: url)
        self.file = file
        func fail(_ problems: [String]) -> CheckpointError {
            CheckpointError(
                location: url.path, problems: problems,
                hint: "The file is damaged or incomplete; download or save it again.")
        }
        guard file.size >= 8 else { throw fail(["file is \(file.size) bytes, too short for a safetensors header"]) }
        let declaredLength = UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self))
        guard let headerLength = Int(exactly: declaredLength), headerLength > 0, headerLength <= file.size - 8,
            headerLength < 100_000_000
        else {
            throw fail(["header length \(declaredLength) does not fit the \(file.size)-byte file (truncated?)"])
        }
        let headerData = Data(bytes: file.base + 8, count: headerLength)
        guard let json = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail(["header is not a JSON object"])
        }
        dataStart = 8 + headerLength
        let dataSize = file.size - dataStart
        var entries: [String: SafeTensorsEntry] = [:]
        var metadata: [String: String] = [:]
        var problems: [String] = []
        for (name, value) in json {
            if name == "__metadata__" {
                for (k, v) in value as? [String: Any] ?? [:] { metadata[k] = v as? String ?? "\(v)" }
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                offsets.count == 2
            else {
                problems.append("\(name): malformed header entry")
                continue
            }
            guard let size = SafeTensorsEntry.elementSize(dtype) else {
                problems.append("\(name): unsupported dtype \(dtype)")
                continue
            }
            // The byte count the shape implies, checked for overflow: a hostile header may claim any size.
            var expected: Int? = shape.contains(where: { $0 < 0 }) ? nil : size
            for dimension in shape {
                guard let sofar = expected else { break }
                let (product, overflow) = sofar.multipliedReportingOverflow(by: dimension)
                expected = overflow ? nil : product
            }
            guard let expected else {
                problems.append("\(name): \(dtype) \(shape) is not a possible tensor shape")
                continue
            }
            if offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] - offsets[0] != expected {
                problems.append("\(name): \(dtype) \(shape) needs \(expected) bytes, header says \(offsets)")
                continue
            }
            if offsets[1] > dataSize {
                problems.append("\(name): data ends at byte \(offsets[1]) but the file has \(dataSize) (truncated)")
                continue
            }
            entries[name] = SafeTensorsEntry(dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
        }
        if !problems.isEmpty { throw fail(problems.sorted()) }
        self.entries = entries
        self.metadata = metadata
    }

    /// Start of an entry's bytes.
    public func pointer(_ entry: SafeTensorsEntry) -> UnsafeMutableRawPointer {
        file.base + dataStart + entry.begin
    }

    /// The entry as an f32 tensor: borrowed from the mapping when it is aligned F32, converted otherwise
    /// (F16/BF16 widen exactly). Nil for integer dtypes.
    public func floatTensor(_ name: String) -> Tensor? {
        guard let e = entries[name] else { return nil }
        let p = pointer(e)
        let count = e.shape.reduce(1, *)
        switch e.dtype {
        case "F32":
            if Int(bitPattern: p) % 4 == 0 {
                let storage = TensorStorage(borrowing: p, byteCount: count * 4, owner: file)
                return Tensor(shape: e.shape, dtype: .f32, storage: storage)
            }
            let t = Tensor(zeros: e.shape)
            t.raw.copyMemory(from: p, byteCount: count * 4)
            return t
        case "F16", "BF16":
            let t = Tensor(zeros: e.shape)
            Conversions.widen(p, dtype: e.dtype == "F16" ? .f16 : .bf16, count: count, into: t.floats)
            return t
        case "F64":
            let t = Tensor(zeros: e.shape)
            for i in 0..<count { t.floats[i] = Float(p.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
            return t
        default:
            return nil
        }
    }

    /// The entry as integers (I64/I32/I16/I8/U8/BOOL), or nil.
    public func integers(_ name: String) -> [Int]? {
        guard let e = entries[name] else { return nil }
        let p = pointer(e)
        let count = e.shape.reduce(1, *)
        switch e.dtype {
        case "I64": return (0..<count).map { Int(p.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        case "I32": return (0..<count).map { Int(p.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        case "I16": return (0..<count).map { Int(p.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)) }
        case "I8": return (0..<count).map { Int(p.load(fromByteOffset: $0, as: Int8.self)) }
        case "U8", "BOOL": return (0..<count).map { Int(p.load(fromByteOffset: $0, as: UInt8.self)) }
        default: return nil
        }
    }

    /// The entry's raw bytes.
    public func bytes(_ name: String) -> [UInt8]? {
        guard let e = entries[name] else { return nil }
        return Array(UnsafeRawBufferPointer(start: pointer(e), count: e.end - e.begin))
    }
}
