// The feature memory's settings as a session keeps them (JSON in the `session.feature_memory` column), so a
// restarted session reopens its bank with the geometry, synopsis and index settings it was created with. The bank
// folder itself is not stored: it is always the session's `bank/` folder. 64-bit seeds are written as decimal
// strings (JSON numbers stop being exact at 2⁵³).

import Foundation
import Memory

/// FeatureMemoryConfiguration without the bank folder, in a JSON-friendly shape.
struct FeatureMemoryLayout: Codable, Equatable {
    var tokenCount: Int
    var hiddenSize: Int
    var ramSeconds: Double
    var frameRate: Double
    var fileByteCap: Int?
    var segmentFrameCount: Int
    var syncInterval: Int
    var clusterCount: Int
    var mode: String
    var maxIterations: Int
    var tolerance: Double
    var synopsisSeed: String
    var currentCount: Int
    var synopsisCount: Int
    var detailCount: Int
    var detailSpacing: Double
    var questionGuidedLimit: Int
    var detailCandidateLimit: Int?
    var retainedVersions: Int
    var exactRecentFrames: Int
    var indexThreshold: Int
    var indexMigrationBatch: Int
    var hnswM: Int
    var hnswEfConstruction: Int
    var hnswEf: Int
    var hnswSeed: String
    var hnswExactFallbackRows: Int

    enum CodingKeys: String, CodingKey {
        case tokenCount = "token_count", hiddenSize = "hidden_size", ramSeconds = "ram_seconds"
        case frameRate = "frame_rate", fileByteCap = "file_byte_cap", segmentFrameCount = "segment_frames"
        case syncInterval = "sync_interval", clusterCount = "clusters", mode, maxIterations = "max_iterations"
        case tolerance, synopsisSeed = "synopsis_seed", currentCount = "current_blocks"
        case synopsisCount = "synopsis_blocks", detailCount = "detail_blocks", detailSpacing = "detail_spacing"
        case questionGuidedLimit = "question_guided_limit", detailCandidateLimit = "detail_candidate_limit"
        case retainedVersions = "retained_versions", exactRecentFrames = "exact_recent_frames"
        case indexThreshold = "index_threshold", indexMigrationBatch = "index_migration_batch"
        case hnswM = "hnsw_m", hnswEfConstruction = "hnsw_ef_construction", hnswEf = "hnsw_ef"
        case hnswSeed = "hnsw_seed", hnswExactFallbackRows = "hnsw_exact_fallback_rows"
    }

    init(_ c: FeatureMemoryConfiguration) {
        tokenCount = c.geometry.tokenCount
        hiddenSize = c.geometry.hiddenSize
        ramSeconds = c.bank.ramSeconds
        frameRate = c.bank.frameRate
        fileByteCap = c.bank.fileByteCap
        segmentFrameCount = c.bank.segmentFrameCount
        syncInterval = c.bank.syncInterval
        clusterCount = c.synopsis.clusterCount
        mode = c.synopsis.mode.rawValue
        maxIterations = c.synopsis.maxIterations
        tolerance = c.synopsis.tolerance
        synopsisSeed = String(c.synopsis.seed)
        currentCount = c.plan.currentCount
        synopsisCount = c.plan.synopsisCount
        detailCount = c.plan.detailCount
        detailSpacing = c.detailSpacing
        questionGuidedLimit = c.questionGuidedLimit
        detailCandidateLimit = c.detailCandidateLimit
        retainedVersions = c.retainedVersions
        exactRecentFrames = c.exactRecentFrames
        indexThreshold = c.globalKeys.threshold
        indexMigrationBatch = c.globalKeys.migrationBatch
        hnswM = c.globalKeys.hnsw.m
        hnswEfConstruction = c.globalKeys.hnsw.efConstruction
        hnswEf = c.globalKeys.hnsw.ef
        hnswSeed = String(c.globalKeys.hnsw.seed)
        hnswExactFallbackRows = c.globalKeys.hnsw.exactFallbackRows
    }

    /// The configuration with its bank in `bankDirectory`; nil when a value is out of range.
    func configuration(bankDirectory: String) -> FeatureMemoryConfiguration? {
        guard let geometry = try? FeatureGeometry(tokenCount: tokenCount, hiddenSize: hiddenSize),
            let mode = Synopsis.Mode(rawValue: mode), let synopsisSeed = UInt64(synopsisSeed),
            let hnswSeed = UInt64(hnswSeed)
        else { return nil }
        return FeatureMemoryConfiguration(
            bank: FeatureBank.Configuration(
                geometry: geometry, ramSeconds: ramSeconds, frameRate: frameRate, directory: bankDirectory,
                fileByteCap: fileByteCap, segmentFrameCount: segmentFrameCount, syncInterval: syncInterval),
            synopsis: Synopsis.Configuration(
                clusterCount: clusterCount, mode: mode, maxIterations: maxIterations, tolerance: tolerance,
                seed: synopsisSeed),
            plan: ReadPlan(currentCount: currentCount, synopsisCount: synopsisCount, detailCount: detailCount),
            detailSpacing: detailSpacing, questionGuidedLimit: questionGuidedLimit,
            detailCandidateLimit: detailCandidateLimit, retainedVersions: retainedVersions,
            exactRecentFrames: exactRecentFrames,
            globalKeys: TieredVectorIndex.Configuration(
                threshold: indexThreshold,
                hnsw: HNSWVectorIndex.Parameters(
                    m: hnswM, efConstruction: hnswEfConstruction, ef: hnswEf, seed: hnswSeed,
                    exactFallbackRows: hnswExactFallbackRows),
                migrationBatch: indexMigrationBatch))
    }

    /// Compact JSON with sorted keys.
    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The layout of JSON text (nil when it is not one).
    static func parse(_ text: String) -> FeatureMemoryLayout? {
        try? JSONDecoder().decode(FeatureMemoryLayout.self, from: Data(text.utf8))
    }
}
