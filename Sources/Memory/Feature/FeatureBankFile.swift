// The feature bank's on-disk format: a folder of segment files, each a 64-byte header followed by fixed-size frame
// records, written in place with pwrite and read back with pread (FeatureBank, FeatureBankView).
//
//   segment header (64 B, little-endian)          record (recordSize B = 32 + 4·H + 2·Kt·H + 2·T·H, rounded up to 8)
//    0  "VGFBANK1"                                  0  u32 magic "VGFR"
//    8  u32 format version (1)                      4  u32 CRC-32C of bytes 8..<32 and the global key
//   12  u32 header size (64)                        8  i64 frame id
//   16  u32 T   20 u32 H   24 u32 Kt                16  f64 media time (seconds)
//   28  u32 record size                            24  u32 CRC-32C of the key     28 u32 CRC-32C of the tokens
//   32  i64 segment number                         32  g_f  [H]      fp32
//   40  u32 flags (1 = thinned copy)               ..  k_f  [Kt·H]   fp16
//   44  u32 frames per segment                     ..  E_f  [T·H]    fp16, then zero padding
//   60  u32 CRC-32C of bytes 0..<60
//
// Records are appended one pwrite each, so a crash can only tear the newest record of the newest segment; its
// checksums fail and reopening cuts it off. A damaged record anywhere else is a hole: its frame is skipped and
// counted. fp16 (not bf16): post-connector values are small (|x| ≪ 65504), and fp16's 10 mantissa bits keep the
// relative error at ≤ 2⁻¹¹ ≈ 4.9e-4 where bf16's 7 bits give 3.9e-3; values beyond ±65504 saturate.

import Foundation
import Glibc

/// Byte offsets of one record's fields for a geometry.
struct RecordLayout: Sendable, Hashable {
    static let headerSize = 32
    static let magic: UInt32 = 0x5246_4756  // "VGFR" little-endian

    let geometry: FeatureGeometry

    var globalOffset: Int { Self.headerSize }
    var globalBytes: Int { 4 * geometry.hiddenSize }
    var keyOffset: Int { globalOffset + globalBytes }
    var keyBytes: Int { 2 * geometry.keyValueCount }
    var tokensOffset: Int { keyOffset + keyBytes }
    var tokensBytes: Int { 2 * geometry.frameValueCount }
    var recordSize: Int { (tokensOffset + tokensBytes + 7) / 8 * 8 }

    /// The record of a frame: header with checksums, fp32 global key, fp16 key and tokens.
    func encode(id: Int, time: Double, features: FrameFeatures) -> [UInt8] {
        var record = [UInt8](repeating: 0, count: recordSize)
        record.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: Int64(id).littleEndian, toByteOffset: 8, as: Int64.self)
            raw.storeBytes(of: time.bitPattern.littleEndian, toByteOffset: 16, as: UInt64.self)
            features.globalKey.withUnsafeBytes { g in
                UnsafeMutableRawBufferPointer(rebasing: raw[globalOffset..<globalOffset + globalBytes]).copyMemory(
                    from: g)
            }
            let key = raw.baseAddress!.advanced(by: keyOffset).assumingMemoryBound(to: UInt16.self)
            features.key.withUnsafeBufferPointer {
                FeatureMath.halves($0, into: UnsafeMutableBufferPointer(start: key, count: geometry.keyValueCount))
            }
            let tokens = raw.baseAddress!.advanced(by: tokensOffset).assumingMemoryBound(to: UInt16.self)
            features.tokens.withUnsafeBufferPointer {
                FeatureMath.halves($0, into: UnsafeMutableBufferPointer(start: tokens, count: geometry.frameValueCount))
            }
            let keyCRC = FeatureMath.crc32c(UnsafeRawBufferPointer(rebasing: raw[keyOffset..<keyOffset + keyBytes]))
            let tokensCRC = FeatureMath.crc32c(
                UnsafeRawBufferPointer(rebasing: raw[tokensOffset..<tokensOffset + tokensBytes]))
            raw.storeBytes(of: keyCRC.littleEndian, toByteOffset: 24, as: UInt32.self)
            raw.storeBytes(of: tokensCRC.littleEndian, toByteOffset: 28, as: UInt32.self)
            raw.storeBytes(of: headerCRC(UnsafeRawBufferPointer(raw)).littleEndian, toByteOffset: 4, as: UInt32.self)
        }
        return record
    }

    /// CRC of header bytes 8..<32 and the global key, from a buffer holding at least the record's first
    /// `keyOffset` bytes.
    func headerCRC(_ raw: UnsafeRawBufferPointer) -> UInt32 {
        let header = FeatureMath.crc32c(UnsafeRawBufferPointer(rebasing: raw[8..<Self.headerSize]))
        return FeatureMath.crc32c(
            UnsafeRawBufferPointer(rebasing: raw[globalOffset..<globalOffset + globalBytes]), continuing: header)
    }

    /// The id and time of a record prefix (≥ `keyOffset` bytes) whose magic and header checksum hold.
    func header(_ raw: UnsafeRawBufferPointer) -> (id: Int, time: Double)? {
        guard raw.count >= keyOffset,
            UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == Self.magic,
            UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) == headerCRC(raw)
        else { return nil }
        let id = Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: Int64.self)))
        let time = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        guard id >= 0, time.isFinite else { return nil }
        return (id, time)
    }

    /// True when the key checksum of a record prefix (≥ keyOffset + keyBytes bytes) holds.
    func keyIsIntact(_ raw: UnsafeRawBufferPointer) -> Bool {
        UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
            == FeatureMath.crc32c(UnsafeRawBufferPointer(rebasing: raw[keyOffset..<keyOffset + keyBytes]))
    }

    /// True when every checksum of a whole record holds.
    func recordIsIntact(_ raw: UnsafeRawBufferPointer) -> Bool {
        guard raw.count >= recordSize, header(raw) != nil, keyIsIntact(raw) else { return false }
        return UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
            == FeatureMath.crc32c(UnsafeRawBufferPointer(rebasing: raw[tokensOffset..<tokensOffset + tokensBytes]))
    }
}

/// One stored frame: E_f and k_f in fp16, g_f in fp32, as the bank holds it (the record bytes). Immutable.
public final class BankFrame: Sendable {
    /// The frame's id (the number the session gave it).
    public let id: Int
    /// Media time in seconds.
    public let time: Double
    let record: [UInt8]
    let layout: RecordLayout

    init(id: Int, time: Double, record: [UInt8], layout: RecordLayout) {
        self.id = id
        self.time = time
        self.record = record
        self.layout = layout
    }

    /// E_f as stored ([T×H], fp16 widened to fp32).
    public func tokens() -> [Float] {
        record.withUnsafeBytes {
            FeatureMath.floats(halvesAt: $0.baseAddress! + layout.tokensOffset, count: layout.geometry.frameValueCount)
        }
    }

    /// k_f as stored ([Kt×H], fp16 widened to fp32).
    public func key() -> [Float] {
        record.withUnsafeBytes {
            FeatureMath.floats(halvesAt: $0.baseAddress! + layout.keyOffset, count: layout.geometry.keyValueCount)
        }
    }

    /// g_f ([H], fp32).
    public func globalKey() -> [Float] {
        record.withUnsafeBytes { raw in
            (0..<layout.geometry.hiddenSize).map {
                raw.loadUnaligned(fromByteOffset: layout.globalOffset + 4 * $0, as: Float.self)
            }
        }
    }

    /// ‖k_f − centroid‖² (Kt×H values), from the stored fp16 key.
    func keyDistance(to centroid: UnsafeBufferPointer<Float>) -> Float {
        record.withUnsafeBytes { raw in
            let halves = (raw.baseAddress! + layout.keyOffset).assumingMemoryBound(to: UInt16.self)
            return FeatureMath.squaredDistance(
                halves: UnsafeBufferPointer(start: halves, count: centroid.count), centroid)
        }
    }
}

/// An open segment file. Immutable: readers pread from it on any thread; only the bank's writer appends records
/// beyond those any view knows. A replaced (thinned) segment stays readable through old handles until they go.
final class SegmentFile: Sendable {
    static let headerSize = 64
    static let magic: [UInt8] = Array("VGFBANK1".utf8)
    static let formatVersion: UInt32 = 1
    static let thinnedFlag: UInt32 = 1

    let path: String
    let number: Int
    let layout: RecordLayout
    let isThinned: Bool
    let descriptor: Int32

    init(path: String, number: Int, layout: RecordLayout, isThinned: Bool, descriptor: Int32) {
        self.path = path
        self.number = number
        self.layout = layout
        self.isThinned = isThinned
        self.descriptor = descriptor
    }

    deinit { Glibc.close(descriptor) }

    /// The file name of segment `number`.
    static func name(_ number: Int) -> String {
        let digits = String(number)
        return "frames-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".vfb"
    }

    /// The segment number of a file name (nil for other files).
    static func number(ofName name: String) -> Int? {
        guard name.hasPrefix("frames-"), name.hasSuffix(".vfb") else { return nil }
        let digits = name.dropFirst("frames-".count).dropLast(".vfb".count)
        guard digits.count == 8, digits.allSatisfy(\.isASCII), let number = Int(digits) else { return nil }
        return number
    }

    /// Byte offset of record slot `slot`.
    func offset(ofSlot slot: Int) -> Int { Self.headerSize + slot * layout.recordSize }

    /// The 64-byte header of a segment.
    static func header(number: Int, layout: RecordLayout, isThinned: Bool, capacity: Int) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: headerSize)
        header.withUnsafeMutableBytes { raw in
            raw.copyBytes(from: magic)
            let g = layout.geometry
            let fields: [UInt32] = [
                formatVersion, UInt32(headerSize), UInt32(g.tokenCount), UInt32(g.hiddenSize),
                UInt32(g.keyTokenCount), UInt32(layout.recordSize),
            ]
            for (index, value) in fields.enumerated() {
                raw.storeBytes(of: value.littleEndian, toByteOffset: 8 + 4 * index, as: UInt32.self)
            }
            raw.storeBytes(of: Int64(number).littleEndian, toByteOffset: 32, as: Int64.self)
            raw.storeBytes(of: (isThinned ? thinnedFlag : 0).littleEndian, toByteOffset: 40, as: UInt32.self)
            raw.storeBytes(of: UInt32(capacity).littleEndian, toByteOffset: 44, as: UInt32.self)
            let crc = FeatureMath.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<60]))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
        }
        return header
    }

    /// What a segment header says.
    enum HeaderCheck {
        case valid(number: Int, isThinned: Bool)
        case invalid(String)
    }

    /// Reads and checks a segment header: its segment number and thinned flag, or why it is not one of ours.
    static func parseHeader(_ bytes: [UInt8], layout: RecordLayout) -> HeaderCheck {
        guard bytes.count == headerSize, Array(bytes[0..<8]) == magic else {
            return .invalid("no feature bank segment header")
        }
        return bytes.withUnsafeBytes { raw in
            func u32(_ offset: Int) -> UInt32 {
                UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            }
            guard u32(60) == FeatureMath.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<60])) else {
                return .invalid("its header checksum fails")
            }
            guard u32(8) == formatVersion, u32(12) == UInt32(headerSize) else {
                return .invalid("format version \(u32(8)) is not \(formatVersion)")
            }
            let g = layout.geometry
            guard u32(16) == UInt32(g.tokenCount), u32(20) == UInt32(g.hiddenSize),
                u32(24) == UInt32(g.keyTokenCount), u32(28) == UInt32(layout.recordSize)
            else {
                return .invalid(
                    "it holds frames of \(u32(16)) tokens × \(u32(20)) values, this model's are \(g.tokenCount) × "
                        + "\(g.hiddenSize)")
            }
            let number = Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 32, as: Int64.self)))
            return .valid(number: number, isThinned: u32(40) & thinnedFlag != 0)
        }
    }

    /// The whole record in `slot`, checked; nil when its checksums fail or it holds another id.
    func readFrame(slot: Int, expectedID: Int) throws(MemoryError) -> BankFrame? {
        var record = [UInt8](repeating: 0, count: layout.recordSize)
        let complete = try FileIO.read(into: &record, at: offset(ofSlot: slot), from: descriptor, path: path)
        guard complete else { return nil }
        let header = record.withUnsafeBytes { layout.recordIsIntact($0) ? layout.header($0) : nil }
        guard let header, header.id == expectedID else { return nil }
        return BankFrame(id: header.id, time: header.time, record: record, layout: layout)
    }

    /// ‖k_f − centroid‖² of the record in `slot`, reading only its header, global and cluster keys; nil when its
    /// checksums fail or it holds another id.
    func keyDistance(slot: Int, expectedID: Int, to centroid: UnsafeBufferPointer<Float>, scratch: inout [UInt8])
        throws(MemoryError) -> Float?
    {
        let length = layout.keyOffset + layout.keyBytes
        if scratch.count != length { scratch = [UInt8](repeating: 0, count: length) }
        guard try FileIO.read(into: &scratch, at: offset(ofSlot: slot), from: descriptor, path: path) else {
            return nil
        }
        return scratch.withUnsafeBytes { raw -> Float? in
            guard let header = layout.header(raw), header.id == expectedID, layout.keyIsIntact(raw) else {
                return nil
            }
            let key = (raw.baseAddress! + layout.keyOffset).assumingMemoryBound(to: UInt16.self)
            return FeatureMath.squaredDistance(halves: UnsafeBufferPointer(start: key, count: centroid.count), centroid)
        }
    }
}

/// Whole-buffer pread/pwrite, retrying on EINTR and short transfers.
enum FileIO {
    /// Fills `buffer` from `offset`; false when the file ends first.
    static func read(into buffer: inout [UInt8], at offset: Int, from fd: Int32, path: String) throws(MemoryError)
        -> Bool
    {
        var failure: String?
        let done = buffer.withUnsafeMutableBytes { raw -> Int in
            var done = 0
            while done < raw.count {
                let n = pread(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = systemError()
                    return done
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        if let failure { throw .readFailed(path: path, reason: failure) }
        return done == buffer.count
    }

    /// Writes all of `bytes` at `offset`.
    static func write(_ bytes: [UInt8], at offset: Int, to fd: Int32, path: String) throws(MemoryError) {
        var failure: String?
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = systemError()
                    return
                }
                done += n
            }
        }
        if let failure { throw .writeFailed(path: path, reason: failure) }
    }

    /// The file's size in bytes.
    static func size(of fd: Int32, path: String) throws(MemoryError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .readFailed(path: path, reason: systemError()) }
        return Int(info.st_size)
    }
}
