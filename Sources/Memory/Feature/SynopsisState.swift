// A synopsis saved for later (the live session persists it, e.g. in SQLite, next to the bank folder) and restored
// exactly: `Synopsis(restoring:)` recomputes the caches the way the updates did, so the restored synopsis continues
// bit for bit. The binary form keeps every float's bits (little-endian) and ends in a CRC-32C:
//
//   "VGSYNOP1"  u32 version (1)  u32 mode (0 ward, 1 contiguous, 2 reference)  u32 K  u32 max iterations
//   f64 tolerance  u64 seed  u32 T  u32 H  i64 frames  u8 has-random  u64 random state  u32 clusters
//   per cluster: i64 w  f64 Σt  f64 t_min  f64 t_max  f32[Kt·H] S  f32[T·H] F  u8 has-centroid [f32[Kt·H]]
//                u32 ranges  (i64 first, i64 last) × ranges
//   u32 CRC-32C of everything before
//
// Size: about K·(Kt + T)·H·4 bytes (12 clusters at SmolVLM2-256M: 2.2 MB) plus 16 bytes per member range.

/// Everything a synopsis needs to continue: settings, clusters, frame count, generator state.
public struct SynopsisState: Sendable, Equatable {
    /// The synopsis settings.
    public var configuration: Synopsis.Configuration
    /// The frames' geometry.
    public var geometry: FeatureGeometry
    /// Frames added (Σ w).
    public var frameCount: Int
    /// The clusters, in the synopsis' order.
    public var clusters: [SynopsisCluster]
    /// The seeded initializer's state (reference mode), when it was seeded.
    public var randomState: UInt64?

    /// A state from its parts.
    public init(
        configuration: Synopsis.Configuration, geometry: FeatureGeometry, frameCount: Int,
        clusters: [SynopsisCluster], randomState: UInt64?
    ) {
        self.configuration = configuration
        self.geometry = geometry
        self.frameCount = frameCount
        self.clusters = clusters
        self.randomState = randomState
    }

    /// The newest member frame id (nil when empty): frames after it are not in this state.
    public var lastFrameID: Int? { clusters.compactMap(\.members.last).max() }

    private static let magic = Array("VGSYNOP1".utf8)
    private static let modes: [Synopsis.Mode] = [.ward, .contiguous, .reference]

    /// The binary form.
    public func serialized() -> [UInt8] {
        var out = ByteWriter()
        out.bytes += Self.magic
        out.u32(1)
        out.u32(UInt32(Self.modes.firstIndex(of: configuration.mode)!))
        out.u32(UInt32(configuration.clusterCount))
        out.u32(UInt32(configuration.maxIterations))
        out.f64(configuration.tolerance)
        out.u64(configuration.seed)
        out.u32(UInt32(geometry.tokenCount))
        out.u32(UInt32(geometry.hiddenSize))
        out.i64(frameCount)
        out.bytes.append(randomState == nil ? 0 : 1)
        out.u64(randomState ?? 0)
        out.u32(UInt32(clusters.count))
        for cluster in clusters {
            out.i64(cluster.weight)
            out.f64(cluster.timeSum)
            out.f64(cluster.start)
            out.f64(cluster.end)
            out.floats(cluster.keySum)
            out.floats(cluster.fullSum)
            out.bytes.append(cluster.referenceCentroid == nil ? 0 : 1)
            if let centroid = cluster.referenceCentroid { out.floats(centroid) }
            let ranges = cluster.members.ranges
            out.u32(UInt32(ranges.count))
            for range in ranges {
                out.i64(range.lowerBound)
                out.i64(range.upperBound)
            }
        }
        out.u32(out.bytes.withUnsafeBytes { FeatureMath.crc32c($0) })
        return out.bytes
    }

    /// Reads the binary form back; throws when it is truncated, damaged or inconsistent.
    public init(serialized bytes: [UInt8]) throws(MemoryError) {
        guard bytes.count >= 12, Array(bytes.prefix(8)) == Self.magic else {
            throw .corruptSynopsisState(detail: "it does not start with a synopsis header")
        }
        let crc = bytes.withUnsafeBytes { raw in
            FeatureMath.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<bytes.count - 4]))
        }
        var tail = ByteReader(bytes: bytes, offset: bytes.count - 4)
        guard try tail.u32() == crc else { throw .corruptSynopsisState(detail: "its checksum fails") }
        var input = ByteReader(bytes: Array(bytes.dropLast(4)), offset: 8)
        guard try input.u32() == 1 else { throw .corruptSynopsisState(detail: "unknown format version") }
        let mode = Int(try input.u32())
        guard mode < Self.modes.count else { throw .corruptSynopsisState(detail: "unknown mode \(mode)") }
        let clusterCount = Int(try input.u32())
        let maxIterations = Int(try input.u32())
        let tolerance = try input.f64()
        let seed = try input.u64()
        configuration = Synopsis.Configuration(
            clusterCount: clusterCount, mode: Self.modes[mode], maxIterations: maxIterations, tolerance: tolerance,
            seed: seed)
        let tokens = Int(try input.u32())
        let hidden = Int(try input.u32())
        do {
            geometry = try FeatureGeometry(tokenCount: tokens, hiddenSize: hidden)
        } catch {
            throw .corruptSynopsisState(detail: "its geometry \(tokens) × \(hidden) is not a square grid")
        }
        frameCount = try input.i64()
        let hasRandom = try input.u8() != 0
        let random = try input.u64()
        randomState = hasRandom ? random : nil
        let count = Int(try input.u32())
        guard count <= clusterCount else { throw .corruptSynopsisState(detail: "more clusters than K") }
        clusters = []
        var totalWeight = 0
        for _ in 0..<count {
            let weight = try input.i64()
            let timeSum = try input.f64()
            let start = try input.f64()
            let end = try input.f64()
            let keySum = try input.floats(geometry.keyValueCount)
            let fullSum = try input.floats(geometry.frameValueCount)
            let centroid = try input.u8() != 0 ? try input.floats(geometry.keyValueCount) : nil
            // Saved states only ever hold finite values (frames with others are refused at ingest).
            guard timeSum.isFinite, start.isFinite, end.isFinite, keySum.allSatisfy(\.isFinite),
                fullSum.allSatisfy(\.isFinite), centroid?.allSatisfy(\.isFinite) ?? true
            else { throw .corruptSynopsisState(detail: "a cluster holds a value that is not a finite number") }
            let rangeCount = Int(try input.u32())
            var ranges: [ClosedRange<Int>] = []
            var memberCount = 0
            for _ in 0..<rangeCount {
                let first = try input.i64()
                let last = try input.i64()
                // Frame ids are ≥ 0; ranges are stored sorted and apart (so their sizes cannot overflow).
                guard first >= 0, first <= last, last < Int.max, (ranges.last?.upperBound ?? -1) < first else {
                    throw .corruptSynopsisState(detail: "a member range is reversed, overlaps or is out of order")
                }
                let (sum, overflow) = memberCount.addingReportingOverflow(last - first + 1)
                guard !overflow else { throw .corruptSynopsisState(detail: "a cluster has too many members") }
                memberCount = sum
                ranges.append(first...last)
            }
            guard memberCount == weight else {
                throw .corruptSynopsisState(
                    detail: "a cluster's weight \(weight) differs from its \(memberCount) members")
            }
            let (sum, overflow) = totalWeight.addingReportingOverflow(weight)
            guard !overflow else { throw .corruptSynopsisState(detail: "its clusters have too many members") }
            totalWeight = sum
            let members = MemberList(ranges: ranges)
            clusters.append(
                SynopsisCluster(
                    weight: weight, keySum: keySum, fullSum: fullSum, timeSum: timeSum, start: start, end: end,
                    members: members, referenceCentroid: centroid))
        }
        guard input.isAtEnd else { throw .corruptSynopsisState(detail: "trailing bytes") }
    }
}

/// Little-endian binary output.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func i64(_ value: Int) { u64(UInt64(bitPattern: Int64(value))) }
    mutating func f64(_ value: Double) { u64(value.bitPattern) }
    mutating func floats(_ values: [Float]) {
        #if _endian(little)
            values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
            for value in values { u32(value.bitPattern) }
        #endif
    }
}

/// Little-endian binary input that throws at the end of its bytes.
struct ByteReader {
    let bytes: [UInt8]
    var offset: Int

    var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ count: Int) throws(MemoryError) -> ArraySlice<UInt8> {
        guard count >= 0, offset + count <= bytes.count else { throw .corruptSynopsisState(detail: "it is truncated") }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func u8() throws(MemoryError) -> UInt8 { try take(1).first! }

    mutating func u32() throws(MemoryError) -> UInt32 {
        try take(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    mutating func u64() throws(MemoryError) -> UInt64 {
        try take(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    mutating func i64() throws(MemoryError) -> Int { Int(Int64(bitPattern: try u64())) }

    mutating func f64() throws(MemoryError) -> Double { Double(bitPattern: try u64()) }

    mutating func floats(_ count: Int) throws(MemoryError) -> [Float] {
        let slice = try take(4 * count)
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            slice.withUnsafeBytes { raw in
                for i in 0..<count {
                    let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                    out[i] = Float(bitPattern: bits)
                }
            }
            initialized = count
        }
    }
}
