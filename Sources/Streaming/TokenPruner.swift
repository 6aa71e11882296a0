// STC-Pruner: keeps the k most novel of a frame's visual tokens (after lern-to-write/STC `stc/pruner/*`, the
// `dual_anchor` score; defaults in the streaming brief, M3). SmolVLM's 64 tokens per frame are already 4×4-patch
// summaries, so the default keeps 48; the pruner mainly buys more seconds per KV budget.
//
//   temporal anchor a_t = mean over the last W frames of each frame's mean token
//   spatial anchor  a_s = this frame's mean token
//   novelty(i)          = α·(1 − cos(x_i, a_t)) + (1 − α)·(1 − cos(x_i, a_s))
//   keep the k tokens of highest novelty, in raster (index) order
//
// The first frame of a session (or after `reset`) has no history: its temporal anchor is its own mean. Ties go to the
// lower index, so the choice is deterministic. Buffers are allocated once.
//
// Shape legend: T tokens per frame, D hidden, W anchor window (frames).

import Kernels

/// STC-Pruner settings (`--keep-tokens`).
public struct PrunerSettings: Sendable, Equatable {
    /// Tokens kept per frame (k); the frame's whole token count turns the pruner off.
    public var keep: Int
    /// α: weight of the temporal anchor.
    public var alpha: Double
    /// W: frames in the temporal anchor's window.
    public var window: Int

    public init(keep: Int = 48, alpha: Double = 0.5, window: Int = 16) {
        self.keep = keep
        self.alpha = alpha
        self.window = window
    }
}

/// The per-session pruner state: the last W frames' mean tokens.
public final class TokenPruner {
    public let settings: PrunerSettings
    public let tokensPerFrame: Int
    public let width: Int
    /// Tokens kept per frame (min of the setting and the frame's token count).
    public let keep: Int
    private let history: Tensor  // [W, D] ring of frame means
    private var historyCount = 0
    private var historyHead = 0
    private let spatial: Tensor  // [D]
    private let temporal: Tensor  // [D]
    private let temporalScores: Tensor  // [T]
    private let spatialScores: Tensor  // [T]
    private let scores: Tensor  // [T]
    private let scratch: UnsafeMutableRawPointer
    private let keptIndices: UnsafeMutablePointer<Int32>

    /// A pruner for frames of `tokensPerFrame` tokens of `width` values.
    public init(settings: PrunerSettings, tokensPerFrame: Int, width: Int) {
        precondition(settings.window >= 1 && settings.keep >= 1, "bad pruner settings")
        self.settings = settings
        self.tokensPerFrame = tokensPerFrame
        self.width = width
        keep = min(settings.keep, tokensPerFrame)
        history = Tensor(zeros: [settings.window, width])
        spatial = Tensor(zeros: [width])
        temporal = Tensor(zeros: [width])
        temporalScores = Tensor(zeros: [tokensPerFrame])
        spatialScores = Tensor(zeros: [tokensPerFrame])
        scores = Tensor(zeros: [tokensPerFrame])
        scratch = .allocate(byteCount: max(16, RowOps.selectScratchBytes(count: tokensPerFrame)), alignment: 16)
        keptIndices = .allocate(capacity: max(1, tokensPerFrame))
    }

    deinit {
        scratch.deallocate()
        keptIndices.deallocate()
    }

    /// Whether every token is kept.
    public var isOff: Bool { keep >= tokensPerFrame }

    /// Forgets the temporal history (a new session or stream).
    public func reset() {
        historyCount = 0
        historyHead = 0
    }

    /// The novelty scores of the last `prune` call ([T]).
    public var lastScores: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: scores.floats, count: tokensPerFrame) }

    /// Chooses the tokens to keep of `tokens` [T, D]: writes the kept tokens, in raster order, to `out` [k, D] and
    /// returns their indices (a view valid until the next call). Updates the temporal history.
    @discardableResult
    public func prune(_ tokens: Tensor, into out: Tensor) -> UnsafeBufferPointer<Int32> {
        precondition(tokens.count == tokensPerFrame * width, "pruner: tokens \(tokens.shape) are not [\(tokensPerFrame), \(width)]")
        precondition(out.count >= keep * width, "pruner: output too small")
        RowOps.mean(tokens.floats, stride: width, rows: tokensPerFrame, width: width, into: spatial.floats)
        if historyCount == 0 {
            temporal.copy(from: spatial)
        } else {
            RowOps.mean(history.floats, stride: width, rows: historyCount, width: width, into: temporal.floats)
        }
        // Remember this frame's mean for later frames.
        (history.floats + historyHead * width).update(from: spatial.floats, count: width)
        historyHead = (historyHead + 1) % settings.window
        historyCount = min(historyCount + 1, settings.window)

        if isOff {
            for i in 0..<tokensPerFrame { keptIndices[i] = Int32(i) }
            out.rows(0..<keep).copy(from: tokens)
            return UnsafeBufferPointer(start: keptIndices, count: keep)
        }
        RowOps.cosines(tokens.floats, stride: width, rows: tokensPerFrame, to: temporal.floats, width: width, into: temporalScores.floats)
        RowOps.cosines(tokens.floats, stride: width, rows: tokensPerFrame, to: spatial.floats, width: width, into: spatialScores.floats)
        let alpha = Float(settings.alpha)
        for i in 0..<tokensPerFrame {
            scores.floats[i] = alpha * (1 - temporalScores.floats[i]) + (1 - alpha) * (1 - spatialScores.floats[i])
        }
        RowOps.select(keep, of: scores.floats, count: tokensPerFrame, largest: true, scratch: scratch, into: keptIndices)
        let kept = UnsafeBufferPointer(start: keptIndices, count: keep)
        RowOps.gather(tokens.floats, stride: width, rows: kept, width: width, into: out.floats, stride: width)
        return kept
    }
}
