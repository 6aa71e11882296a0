// Costs of the feature memory at SmolVLM2-256M sizes (../shared/briefs/memory.md §6.6 check 6: synopsis update
// ≤ 5 ms/frame at K = 12, D = 16×576; snapshot ≤ 1 ms; exact search over 100k 576-d keys ≤ 10 ms), for
// `vigil bench` or the FeatureMemoryBench tool. Tests never call it (they never time things). Build with -c release;
// figures are medians over repeated runs, in milliseconds unless the key says otherwise.
//
//   synopsis_ward_ms, _contiguous_ms, _reference_ms   one Synopsis.add (K = 12, full synopsis, no snapshot held)
//   keys_ms                       FrameFeatures: 2×2 key pool + global mean of a 64×576 frame
//   ingest_ram_ms                 FeatureMemory.ingest, RAM only, snapshots retained (publishing included)
//   ingest_file_ms                the same with a bank folder, fdatasync after every frame
//   ingest_file_nosync_ms         the same without fdatasync
//   snapshot_ms                   FeatureMemory.snapshot()
//   read_ram_ms                   a default read (17 blocks) after `frames` frames, members in the RAM ring;
//   read_current_ms, read_synopsis_ms, read_detail_ms   its parts (detail: choosing the 3 frames)
//   read_file_ms                  the same with a 60 s ring: detail members read back from the files
//   search_100k_ms                exact cosine top-10 over 100,000 576-d global keys
//   state_bytes, serialize_ms     SynopsisState.serialized() of a full synopsis
//   ram_*_bytes, file_bytes       FeatureMemoryUsage after the RAM-only hour (bank ring, global keys, synopsis,
//                                 exact recent frames, what only retained versions hold), the files' bytes

import Dispatch
import Foundation

/// Measures the feature memory's costs.
public enum FeatureMemoryBenchmark {
    /// What to measure and how big.
    public struct Options: Sendable {
        /// Frames per stream (default 3,600: one hour at 1 fps).
        public var frames: Int
        /// Keys in the search benchmark (default 100,000).
        public var searchKeys: Int
        /// A folder for the file benchmarks (a temporary one when nil; removed afterwards).
        public var scratchDirectory: String?
        /// The frames' geometry (default SmolVLM2-256M).
        public var geometry: FeatureGeometry

        /// The brief's sizes.
        public init(
            frames: Int = 3_600, searchKeys: Int = 100_000, scratchDirectory: String? = nil,
            geometry: FeatureGeometry = .smolVLM2_256M
        ) {
            self.frames = frames
            self.searchKeys = searchKeys
            self.scratchDirectory = scratchDirectory
            self.geometry = geometry
        }
    }

    /// Runs every measurement; keys as in the file header.
    public static func run(_ options: Options = Options()) throws(MemoryError) -> [String: Double] {
        let geometry = options.geometry
        var random = SplitMix64(state: 2026)
        // A recurring-scene stream: 24 places, a scene every 40 frames, noise on every value.
        let places = (0..<24).map { _ in normals(geometry.frameValueCount, &random, scale: 1) }
        let pool = (0..<96).map { index in
            zip(places[index % 24], normals(geometry.frameValueCount, &random, scale: 0.3)).map { $0 + $1 }
        }
        func tokens(_ id: Int) -> [Float] { pool[((id / 40) % 24 + 24 * (id % 4)) % pool.count] }
        let features = pool.map { FrameFeatures(tokens: $0, geometry: geometry) }
        func frameFeatures(_ id: Int) -> FrameFeatures { features[((id / 40) % 24 + 24 * (id % 4)) % pool.count] }

        var results: [String: Double] = [:]
        results["keys_ms"] = median(repeats: 200) {
            _ = FrameFeatures(tokens: pool[$0 % pool.count], geometry: geometry)
        }

        for (mode, name) in [(Synopsis.Mode.ward, "ward"), (.contiguous, "contiguous"), (.reference, "reference")] {
            var synopsis = try Synopsis(configuration: Synopsis.Configuration(mode: mode), geometry: geometry)
            for id in 0..<200 { synopsis.add(id: id, time: Double(id), features: frameFeatures(id)) }
            var id = 200
            results["synopsis_\(name)_ms"] = median(repeats: mode == .reference ? 200 : 1_000) { _ in
                synopsis.add(id: id, time: Double(id), features: frameFeatures(id))
                id += 1
            }
            if mode == .ward {
                var bytes: [UInt8] = []
                results["serialize_ms"] = median(repeats: 20) { _ in bytes = synopsis.state.serialized() }
                results["state_bytes"] = Double(bytes.count)
            }
        }

        // RAM only: a full hour of frames, then snapshots and reads.
        let ram = try FeatureMemory(configuration: FeatureMemoryConfiguration(geometry: geometry))
        var ingest: [Double] = []
        for id in 0..<options.frames {
            let start = DispatchTime.now()
            try ram.ingest(frame: id, tokens: tokens(id), time: Double(id))
            ingest.append(start.secondsElapsed * 1e3)
        }
        results["ingest_ram_ms"] = middle(ingest)
        results["snapshot_ms"] = median(repeats: 10_000) { _ in _ = try? ram.snapshot() }
        let snapshot = try ram.snapshot()
        results["read_ram_ms"] = try medianThrowing(repeats: 20) { _ throws(MemoryError) in _ = try snapshot.read() }
        results["read_current_ms"] = try medianThrowing(repeats: 20) { _ throws(MemoryError) in
            _ = try snapshot.currentBlocks(count: 2)
        }
        results["read_synopsis_ms"] = median(repeats: 20) { _ in _ = snapshot.synopsisBlocks(count: 12) }
        results["read_detail_ms"] = try medianThrowing(repeats: 20) { _ throws(MemoryError) in
            _ = try snapshot.detailFrames(count: 3)
        }
        let usage = ram.usage
        results["ram_bank_bytes"] = Double(usage.bankRAMBytes)
        results["ram_other_bytes"] = Double(usage.ramBytesExcludingBankAndKeys)
        results["ram_synopsis_bytes"] = Double(usage.synopsisBytes)
        results["ram_recent_bytes"] = Double(usage.recentBytes)
        results["ram_retained_bytes"] = Double(usage.retainedVersionBytes)
        results["ram_global_key_bytes"] = Double(usage.globalKeyBytes)

        // A bank folder with a one-minute ring: reads go to the files.
        let folder = options.scratchDirectory ?? NSTemporaryDirectory() + "vigil-featmem-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for sync in [0, 1] {
            try? FileManager.default.removeItem(atPath: folder)
            let files = try FeatureMemory(
                configuration: FeatureMemoryConfiguration(
                    bank: FeatureBank.Configuration(
                        geometry: geometry, ramSeconds: 60, directory: folder, syncInterval: sync)))
            let count = sync == 1 ? min(options.frames, 600) : options.frames
            ingest = []
            for id in 0..<count {
                let start = DispatchTime.now()
                try files.ingest(frame: id, tokens: tokens(id), time: Double(id))
                ingest.append(start.secondsElapsed * 1e3)
            }
            results[sync == 1 ? "ingest_file_ms" : "ingest_file_nosync_ms"] = middle(ingest)
            if sync == 0 {
                let snapshot = try files.snapshot()
                results["read_file_ms"] = try medianThrowing(repeats: 10) { _ throws(MemoryError) in
                    _ = try snapshot.read()
                }
                results["file_bytes"] = Double(files.usage.bankFileBytes)
            }
            files.close()
        }

        // Exact search over many keys.
        var index = ExactVectorIndex(dimension: geometry.hiddenSize)
        var key = [Float](repeating: 0, count: geometry.hiddenSize)
        for id in 0..<options.searchKeys {
            for i in key.indices { key[i] = Float(Int64(bitPattern: random.next() >> 11)) / Float(1 << 52) - 0.5 }
            key.withUnsafeBufferPointer { index.add(id: id, time: Double(id), vector: $0) }
        }
        let query = normals(geometry.hiddenSize, &random, scale: 1)
        results["search_100k_ms"] = median(repeats: 30) { _ in _ = index.search(query, k: 10) }
        results["search_keys"] = Double(options.searchKeys)
        return results
    }

    private static func normals(_ count: Int, _ random: inout SplitMix64, scale: Double) -> [Float] {
        (0..<count).map { _ in
            let u = max(Double(random.next() >> 11) / Double(1 << 53), 1e-300)
            let v = Double(random.next() >> 11) / Double(1 << 53)
            return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v) * scale)
        }
    }

    private static func median(repeats: Int, _ body: (Int) -> Void) -> Double {
        middle(
            (0..<repeats).map { i in
                let start = DispatchTime.now()
                body(i)
                return start.secondsElapsed * 1e3
            })
    }

    private static func medianThrowing(repeats: Int, _ body: (Int) throws(MemoryError) -> Void) throws(MemoryError)
        -> Double
    {
        var times: [Double] = []
        for i in 0..<repeats {
            let start = DispatchTime.now()
            try body(i)
            times.append(start.secondsElapsed * 1e3)
        }
        return middle(times)
    }

    private static func middle(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
