// StreamingLLM's cache for text (Xiao et al., `streaming_llm/kv_cache.py` with `pos_shift`): the first `sink`
// tokens are pinned, then the most recent tokens up to the capacity; when room is needed the oldest tokens after the
// sink leave, and the survivors take contiguous positions again (keys re-rotated from their pre-RoPE copies, never
// rotated twice). `sink` 0 is the plain sliding window it is compared with. `vigil bench --stream-text` measures both
// against a recompute oracle on real weights.

import Kernels
import SmolVLM

/// An attention-sink + sliding-window cache over one slot arena.
public final class SinkWindowCache: DecoderCache {
    public let storage: KVCache
    public let sink: Int
    private let rope: RotaryEmbedding
    /// Tokens evicted so far.
    public private(set) var evicted = 0

    /// A cache of `capacity` positions for `decoder`, pinning the first `sink` tokens.
    public init(decoder: LlamaDecoder, capacity: Int, sink: Int) {
        precondition(capacity > sink, "the window needs room beyond the sink")
        storage = decoder.makeCache(capacity: capacity, keepsPreRoPEKeys: true)
        self.sink = sink
        rope = decoder.rope
    }

    public var nextPosition: Int { storage.count }

    /// Evicts the oldest tokens after the sink so that `incoming` more fit.
    public func makeRoom(for incoming: Int) {
        precondition(incoming <= storage.capacity - sink, "\(incoming) tokens do not fit beside the sink")
        let over = storage.count + incoming - storage.capacity
        guard over > 0 else { return }
        let start = min(sink, storage.count)
        storage.removeSlots(start..<start + over)
        evicted += over
        if start < storage.count { storage.reposition(start..<storage.count, startingAt: start, rope: rope) }
    }
}
