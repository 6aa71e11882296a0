// The shape of one frame's visual tokens and of the keys the feature memory derives from them
// (../shared/briefs/memory.md §6.2):
//
//   E_f  [T, H]      the frame's post-connector tokens, a square S×S grid (T = S²), row-major
//   k_f  [Kt, H]     cluster key: 2×2 average pool of the grid, Kt = ceil(S/2)² (8×8 → 4×4 = 16 tokens; an odd side
//                    leaves a ragged last row/column of windows covering 2 or 1 tokens)
//   g_f  [H]         global key: the mean of the T tokens
//
// SmolVLM2: T = 64 (8×8), H = 576 (256M) or 960 (500M). Test models: T = 4 (2×2) or 9 (3×3).

import CFeatureKernels

/// The token grid of a frame and the sizes of its keys.
public struct FeatureGeometry: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Tokens per frame (T), a square number.
    public let tokenCount: Int
    /// Values per token (H).
    public let hiddenSize: Int
    /// Side of the token grid (S = √T).
    public let gridSide: Int

    /// Most tokens per frame (a 256×256 grid; SmolVLM2 has 64): saved states and bank files are read with this
    /// bound, so sizes multiplied together never overflow.
    public static let maximumTokenCount = 1 << 16
    /// Most values per token (SmolVLM2 has 576 or 960).
    public static let maximumHiddenSize = 1 << 16

    /// A geometry of `tokenCount` tokens (a square grid) of `hiddenSize` values.
    public init(tokenCount: Int, hiddenSize: Int) throws(MemoryError) {
        let side = Int(Double(min(max(tokenCount, 0), Self.maximumTokenCount)).squareRoot().rounded())
        guard tokenCount > 0, tokenCount <= Self.maximumTokenCount, hiddenSize > 0,
            hiddenSize <= Self.maximumHiddenSize, side * side == tokenCount
        else {
            throw .invalidFeatureGeometry(tokenCount: tokenCount, hiddenSize: hiddenSize)
        }
        self.tokenCount = tokenCount
        self.hiddenSize = hiddenSize
        gridSide = side
    }

    /// SmolVLM2-256M: 64 tokens of 576.
    public static let smolVLM2_256M = try! FeatureGeometry(tokenCount: 64, hiddenSize: 576)
    /// SmolVLM2-500M: 64 tokens of 960.
    public static let smolVLM2_500M = try! FeatureGeometry(tokenCount: 64, hiddenSize: 960)

    /// Side of the pooled key grid, ceil(S/2).
    public var keyGridSide: Int { (gridSide + 1) / 2 }
    /// Tokens of the cluster key (Kt).
    public var keyTokenCount: Int { keyGridSide * keyGridSide }
    /// Floats of one frame's tokens (T·H).
    public var frameValueCount: Int { tokenCount * hiddenSize }
    /// Floats of one cluster key (Kt·H, the synopsis dimension D).
    public var keyValueCount: Int { keyTokenCount * hiddenSize }

    public var description: String { "\(gridSide)×\(gridSide) tokens of \(hiddenSize)" }

    private enum CodingKeys: String, CodingKey {
        case tokenCount = "tokens"
        case hiddenSize = "hidden"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let tokens = try container.decode(Int.self, forKey: .tokenCount)
        let hidden = try container.decode(Int.self, forKey: .hiddenSize)
        do {
            try self.init(tokenCount: tokens, hiddenSize: hidden)
        } catch {
            throw DecodingError.dataCorruptedError(
                forKey: .tokenCount, in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tokenCount, forKey: .tokenCount)
        try container.encode(hiddenSize, forKey: .hiddenSize)
    }
}

/// One frame's tokens with the two keys derived from them, all fp32.
public struct FrameFeatures: Sendable {
    /// E_f: [T×H].
    public let tokens: [Float]
    /// k_f: [Kt×H], the 2×2 pool of the grid.
    public let key: [Float]
    /// g_f: [H], the mean token.
    public let globalKey: [Float]

    /// Derives the keys of `tokens` ([T×H], row-major); the count must match `geometry` (a programmer error if not).
    public init(tokens: [Float], geometry: FeatureGeometry) {
        precondition(tokens.count == geometry.frameValueCount, "frame of \(tokens.count) values, not \(geometry)")
        self.tokens = tokens
        var key = [Float](repeating: 0, count: geometry.keyValueCount)
        var global = [Float](repeating: 0, count: geometry.hiddenSize)
        tokens.withUnsafeBufferPointer { t in
            key.withUnsafeMutableBufferPointer { k in
                vfm_pool_key(t.baseAddress!, geometry.gridSide, geometry.hiddenSize, k.baseAddress!)
            }
            global.withUnsafeMutableBufferPointer { g in
                vfm_mean_rows(t.baseAddress!, geometry.tokenCount, geometry.hiddenSize, g.baseAddress!)
            }
        }
        self.key = key
        globalKey = global
    }

    /// Features with keys given (for replaying stored frames: the tokens then come from the bank's fp16).
    init(tokens: [Float], key: [Float], globalKey: [Float]) {
        self.tokens = tokens
        self.key = key
        self.globalKey = globalKey
    }
}
