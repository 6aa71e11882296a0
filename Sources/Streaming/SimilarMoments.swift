// "Show me when this scene appeared before" (`/similar` in `vigil watch`): the newest frame's global key (the mean of
// its visual tokens, memory brief §6.2) searched among every earlier frame of the feature memory — the exact index up
// to its threshold, the HNSW graph beyond — and the hits gathered into distinct moments: matches closer than
// `spacing` seconds to a better one are the same moment, and the last `excludingRecent` seconds (the scene itself,
// still on screen) are left out.

import Foundation
import Memory

/// A moment of the stream that looks like the query frame.
public struct SimilarMoment: Sendable, Equatable {
    /// Media time of the best-matching frame of the moment.
    public var time: Double
    /// Cosine similarity of its global key with the query's.
    public var score: Float
}

extension LiveSession {
    /// Up to `count` earlier moments most like the frame at media time `at` (default: the newest frame), best first;
    /// empty without a feature memory or before any frame.
    public nonisolated func similarMoments(
        to at: Double? = nil, count: Int = 5, excludingRecent: Double = 30, spacing: Double = 10
    ) -> [SimilarMoment] {
        guard let featureMemory, let last = featureMemory.lastFrame,
            let snapshot = try? featureMemory.snapshot(at: last.time)
        else { return [] }
        let target = at.flatMap { snapshot.bank.frame(nearest: $0, notAfter: last.time) } ?? (last.id, last.time)
        guard let frame = try? snapshot.frame(id: target.id) else { return [] }
        var filter = VectorSearchFilter()
        filter.maxTime = target.time - excludingRecent
        guard filter.maxTime! >= 0 else { return [] }
        let matches = snapshot.searchGlobalKeys(frame.globalKey(), k: max(1, count) * 8, filter: filter)
        var moments: [SimilarMoment] = []
        for m in matches {
            guard let time = snapshot.bank.time(ofFrame: m.id) else { continue }
            if moments.contains(where: { abs($0.time - time) < spacing }) { continue }
            moments.append(SimilarMoment(time: time, score: m.score))
            if moments.count == count { break }
        }
        return moments
    }
}
