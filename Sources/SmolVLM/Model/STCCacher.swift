// STC-Cacher: temporal feature caching in the SigLIP tower (after lern-to-write/STC, `stc/cacher/reference_forward.py`;
// design and defaults in the streaming brief, M2). Consecutive frames of a stream are mostly the same picture, so
// most patches' attention and MLP branch outputs barely change from frame to frame.
//
// Every N-th frame is a *reference*: the full tower runs, and per layer the frame's keys K, values V, attention
// branch output A = out_proj(attn(LN1 x)) and MLP branch output M = fc2(gelu(fc1(LN2 x))) are kept. Any other frame,
// per layer l:
//   n1 = LN1(x)                                   all P patches (the residual x is always the current frame's)
//   k  = n1·Wkᵀ + bk                              all P patches (a third of the q|k|v GEMM)
//   S  = the ⌈r·P⌉ patches whose k is least similar (cosine) to K_ref[l] at the same index, ascending
//   q, v for S only; V = V_ref[l] with the rows of S replaced by v
//   A  = A_ref[l] with the rows of S replaced by out_proj(attn(q_S; k, V))          (queries S, keys all P)
//   x += A
//   M  = M_ref[l] with the rows of S replaced by fc2(gelu(fc1(LN2 x_S)))
//   x += M
// so a cached frame costs ≈ 30% of a full one at r = 0.25 (counted below as GEMM and attention FLOPs).
//
// A reference is also forced on the first frame, after `reset()` (stream start or reconnect, geometry change), on a
// scene cut — the DTD-style share of patches whose pixels changed from the previous frame is above
// `cutPatchFraction`, or the mean key cosine at the probe layer (layer 6 of 12; half the depth of other towers) is
// below `cutKeyCosine`, in which case the frame is recomputed in full. With `interval` 1 or `updateRatio` 1 every
// frame is computed whole (the plain tower's result; the tests pin the difference below 1e-5 in fp32).
//
// Every buffer is allocated at construction: encoding allocates nothing.
//
// Shape legend: P patches, S selected patches (⌈r·P⌉), D hidden, I MLP width, H heads, Hd = D / H.

import Kernels

/// STC-Cacher settings (`--cache-interval`, `--update-ratio`).
public struct CacherSettings: Sendable, Equatable {
    /// N: a reference frame every N frames; 1 = off (every frame computed in full).
    public var interval: Int
    /// r ∈ (0, 1]: the share of patches recomputed per layer on other frames.
    public var updateRatio: Double
    /// A mean key cosine at the probe layer below this is a scene cut (the frame is recomputed as a reference).
    public var cutKeyCosine: Double
    /// A share of changed patches (vs the previous frame) above this is a scene cut.
    public var cutPatchFraction: Double
    /// A patch counts as changed when its mean |Δ| of normalised pixels (range 2) exceeds this.
    public var patchChangeThreshold: Double

    /// Settings with the brief's defaults (N = 2, r = 0.25, cut below 0.80 key cosine or above 50% changed patches).
    public init(
        interval: Int = 2, updateRatio: Double = 0.25, cutKeyCosine: Double = 0.80, cutPatchFraction: Double = 0.5,
        patchChangeThreshold: Double = 0.04
    ) {
        self.interval = interval
        self.updateRatio = updateRatio
        self.cutKeyCosine = cutKeyCosine
        self.cutPatchFraction = cutPatchFraction
        self.patchChangeThreshold = patchChangeThreshold
    }

    /// The cacher disabled: every frame runs the whole tower.
    public static let off = CacherSettings(interval: 1, updateRatio: 1)

    /// Whether any frame reuses anything.
    public var isActive: Bool { interval > 1 }
}

/// Why a frame was encoded in full.
public enum ReferenceReason: String, Sendable {
    /// The first frame, or the first after `reset()` (stream start, reconnect, geometry change).
    case start
    /// Every N-th frame.
    case interval
    /// Many patches changed since the previous frame.
    case pixelChange = "pixel_change"
    /// Keys at the probe layer no longer match the reference.
    case keyChange = "key_change"
    /// The cacher is off.
    case off
}

/// What encoding one frame did.
public struct VisionFrameReport: Sendable, Equatable {
    /// Nil when the frame reused the reference; otherwise why it was computed in full.
    public var reference: ReferenceReason?
    /// Patches recomputed per layer (P for a reference).
    public var recomputedPatches: Int
    /// GEMM and attention FLOPs spent on this frame (including any pass abandoned at a scene cut).
    public var flops: Double
    /// The FLOPs of a full pass (what the frame costs without the cacher).
    public var fullFLOPs: Double
    /// Mean key cosine to the reference at the probe layer (cached frames only).
    public var probeKeyCosine: Float?
    /// Share of patches whose pixels changed from the previous frame (0 on the first frame).
    public var changedPatchFraction: Float

    /// Whether the frame was encoded in full.
    public var isReference: Bool { reference != nil }
}

/// Per-stream vision state with temporal feature caching: frames in, visual tokens (connector output) out.
public final class CachedFrameEncoder {
    public let model: SmolVLMModel
    public let settings: CacherSettings
    /// Patches per frame and patches recomputed on cached frames.
    public let patchCount: Int
    public let selectedCount: Int
    /// The layer whose mean key cosine detects scene cuts.
    public let probeLayer: Int

    private let workspace: VisionWorkspace
    private let shuffled: Tensor
    // Per layer reference state: [P, D] each.
    private let refKeys: [Tensor], refValues: [Tensor], refAttention: [Tensor], refMLP: [Tensor]
    // The previous frame's patches [P, C·p·p] (pixel change) and a copy of the embeddings (restart after a cut).
    private let previousPatches: Tensor
    private let embeddings: Tensor
    private var hasPrevious = false
    private var hasReference = false
    private var framesSinceReference = 0
    // Scratch of cached frames.
    private let keysAll: Tensor  // [P, D]
    private let valuesAll: Tensor  // [P, D]
    private let branch: Tensor  // [P, D]
    private let cosines: Tensor  // [P]
    private let selected: UnsafeMutablePointer<Int32>  // [S]
    private let identity: UnsafeMutablePointer<Int32>  // [P] 0, 1, … (strided column copies)
    private let selectScratch: UnsafeMutableRawPointer
    private let rowsS: Tensor, qS: Tensor, vS: Tensor, attnS: Tensor, outS: Tensor, hS: Tensor  // [S, D] / [S, I]

    /// Buffers for `model`'s tower (reference state only when the settings reuse anything).
    public init(model: SmolVLMModel, settings: CacherSettings = CacherSettings()) {
        precondition(settings.interval >= 1 && settings.updateRatio > 0 && settings.updateRatio <= 1, "bad cacher settings")
        self.model = model
        self.settings = settings
        let vision = model.vision
        let c = vision.config
        let p = vision.patchCount
        let d = c.hiddenSize
        patchCount = p
        selectedCount = min(p, max(1, Int((settings.updateRatio * Double(p)).rounded(.up))))
        probeLayer = min(max(vision.layers.count / 2, 0), max(vision.layers.count - 1, 0))
        workspace = vision.makeWorkspace()
        let s = model.config.scaleFactor
        shuffled = Tensor(zeros: [model.tokensPerFrame, d * s * s])
        let active = settings.isActive
        let layers = active ? vision.layers.count : 0
        refKeys = (0..<layers).map { _ in Tensor(zeros: [p, d]) }
        refValues = (0..<layers).map { _ in Tensor(zeros: [p, d]) }
        refAttention = (0..<layers).map { _ in Tensor(zeros: [p, d]) }
        refMLP = (0..<layers).map { _ in Tensor(zeros: [p, d]) }
        let patchDim = c.numChannels * c.patchSize * c.patchSize
        previousPatches = Tensor(zeros: [p, patchDim])
        embeddings = Tensor(zeros: active ? [p, d] : [0])
        let rows = active ? p : 0
        let sel = active ? selectedCount : 0
        keysAll = Tensor(zeros: [rows, d])
        valuesAll = Tensor(zeros: [rows, d])
        branch = Tensor(zeros: [rows, d])
        cosines = Tensor(zeros: [p])
        selected = .allocate(capacity: max(1, sel))
        identity = .allocate(capacity: max(1, p))
        for i in 0..<p { identity[i] = Int32(i) }
        selectScratch = .allocate(byteCount: max(16, RowOps.selectScratchBytes(count: p)), alignment: 16)
        rowsS = Tensor(zeros: [sel, d])
        qS = Tensor(zeros: [sel, d])
        vS = Tensor(zeros: [sel, d])
        attnS = Tensor(zeros: [sel, d])
        outS = Tensor(zeros: [sel, d])
        hS = Tensor(zeros: [sel, c.intermediateSize])
    }

    deinit {
        selected.deallocate()
        identity.deallocate()
        selectScratch.deallocate()
    }

    /// Forgets the reference and the previous frame: the next frame is encoded in full (stream start, reconnect,
    /// geometry change).
    public func reset() {
        hasReference = false
        hasPrevious = false
        framesSinceReference = 0
    }

    /// Bytes of reference state and scratch.
    public var byteCount: Int {
        (refKeys + refValues + refAttention + refMLP).reduce(0) { $0 + $1.byteCount }
            + previousPatches.byteCount + embeddings.byteCount + keysAll.byteCount + valuesAll.byteCount
            + branch.byteCount + rowsS.byteCount * 5 + hS.byteCount
    }

    // MARK: - FLOPs

    /// GEMM and attention FLOPs of one frame of `config`'s tower and connector: a full pass, and a cached frame
    /// recomputing `selected` of the patches. Per layer (P patches, S selected, D hidden, I MLP width):
    ///   full    2·P·D·3D (q|k|v) + 4·P²·D (attention) + 2·P·D² (out) + 4·P·D·I (MLP)
    ///   cached  2·P·D² (k of all) + 2·2·S·D² (q, v) + 4·S·P·D + 2·S·D² + 4·S·D·I
    /// plus the patch embedding (each frame) and the connector.
    public static func frameFLOPs(_ config: SmolVLMConfig, selected: Int) -> (full: Double, cached: Double) {
        let v = config.visionConfig
        let grid = v.imageSize / max(1, v.patchSize)
        let (p, s, d, i) = (Double(grid * grid), Double(selected), Double(v.hiddenSize), Double(v.intermediateSize))
        let patchDim = Double(v.numChannels * v.patchSize * v.patchSize)
        let scale = Double(config.scaleFactor * config.scaleFactor)
        let connector = 2 * (p / scale) * (d * scale) * Double(config.textConfig.hiddenSize)
        let layers = Double(v.numHiddenLayers)
        let fullLayer = 2 * p * d * 3 * d + 4 * p * p * d + 2 * p * d * d + 4 * p * d * i
        let cachedLayer = 2 * p * d * d + 2 * 2 * s * d * d + 4 * s * p * d + 2 * s * d * d + 4 * s * d * i
        let embedding = 2 * p * patchDim * d
        return (embedding + layers * fullLayer + connector, embedding + layers * cachedLayer + connector)
    }

    /// GEMM and attention FLOPs of a full pass.
    public var fullFLOPs: Double { Self.frameFLOPs(model.config, selected: selectedCount).full }

    /// GEMM and attention FLOPs of a cached frame.
    public var cachedFrameFLOPs: Double { Self.frameFLOPs(model.config, selected: selectedCount).cached }

    private var patchEmbeddingFLOPs: Double {
        let c = model.vision.config
        return 2 * Double(patchCount) * Double(c.numChannels * c.patchSize * c.patchSize) * Double(c.hiddenSize)
    }

    private var connectorFLOPs: Double {
        let proj = model.connector.projection
        return 2 * Double(model.tokensPerFrame) * Double(proj.inFeatures) * Double(proj.outFeatures)
    }

    /// FLOPs of one cached layer.
    private var cachedLayerFLOPs: Double {
        (cachedFrameFLOPs - patchEmbeddingFLOPs - connectorFLOPs) / Double(max(1, model.vision.layers.count))
    }

    // MARK: - Encoding

    /// Encodes one frame, pixels [C, S, S] (normalised), into visual tokens `out` [tokensPerFrame, D].
    public func encode(_ pixels: Tensor, into out: Tensor, context: ComputeContext) -> VisionFrameReport {
        let vision = model.vision
        let c = vision.config
        precondition(
            pixels.shape.is(c.numChannels, c.imageSize, c.imageSize),
            "vision: pixels \(pixels.shape) are not [\(c.numChannels), \(c.imageSize), \(c.imageSize)]")
        let ws = workspace
        let patchDim = c.numChannels * c.patchSize * c.patchSize
        Ops.patchify(pixels, patchSize: c.patchSize, into: ws.patches)
        // DTD-style change: share of patches whose pixels moved by more than the threshold since the previous frame.
        var changed: Float = 0
        if hasPrevious {
            RowOps.meanAbsoluteDifferences(
                ws.patches.floats, previousPatches.floats, rows: patchCount, width: patchDim, into: cosines.floats)
            var n = 0
            let threshold = Float(settings.patchChangeThreshold)
            for i in 0..<patchCount where cosines.floats[i] > threshold { n += 1 }
            changed = Float(n) / Float(patchCount)
        }
        previousPatches.copy(from: ws.patches)
        hasPrevious = true

        var report = VisionFrameReport(
            reference: nil, recomputedPatches: patchCount, flops: 0, fullFLOPs: fullFLOPs, probeKeyCosine: nil,
            changedPatchFraction: changed)
        context.linear(ws.patches, vision.patchEmbedding, into: ws.hidden)
        Ops.add(ws.hidden, vision.positionEmbedding, into: ws.hidden)

        var reason: ReferenceReason?
        if !settings.isActive {
            reason = .off
        } else if !hasReference {
            reason = .start
        } else if framesSinceReference + 1 >= settings.interval {
            reason = .interval
        } else if Double(changed) > settings.cutPatchFraction {
            reason = .pixelChange
        }
        if reason == nil {
            embeddings.copy(from: ws.hidden)
            var abandoned = false
            var spent = patchEmbeddingFLOPs
            for l in 0..<vision.layers.count {
                let meanCosine = cachedLayer(l, context: context)
                spent += cachedLayerFLOPs
                if l == probeLayer {
                    report.probeKeyCosine = meanCosine
                    if Double(meanCosine) < settings.cutKeyCosine {
                        abandoned = true
                        break
                    }
                }
            }
            if abandoned {
                // A scene cut: start again from the embeddings as a reference frame.
                ws.hidden.copy(from: embeddings)
                reason = .keyChange
                report.flops = spent - patchEmbeddingFLOPs
            } else {
                report.flops = spent + connectorFLOPs
                report.recomputedPatches = selectedCount
                framesSinceReference += 1
            }
        }
        if let reason {
            if reason == .off {
                for layer in vision.layers { vision.forward(layer, workspace: ws, context: context) }
            } else {
                for l in 0..<vision.layers.count { referenceLayer(l, context: context) }
                hasReference = true
                framesSinceReference = 0
            }
            report.reference = reason
            report.flops += fullFLOPs
            report.recomputedPatches = patchCount
        }
        let post = vision.postLayerNorm
        Ops.layerNorm(ws.hidden, weight: post.weight, bias: post.bias, eps: post.eps, into: ws.output)
        model.connector.project(ws.output, shuffled: shuffled, into: out, context: context)
        return report
    }

    /// A full layer that also keeps its K, V and branch outputs as the new reference.
    private func referenceLayer(_ l: Int, context: ComputeContext) {
        let vision = model.vision
        let layer = vision.layers[l]
        let ws = workspace
        let d = vision.config.hiddenSize
        let heads = vision.config.numAttentionHeads
        let headDim = d / heads
        let n1 = layer.layerNorm1
        Ops.layerNorm(ws.hidden, weight: n1.weight, bias: n1.bias, eps: n1.eps, into: ws.normed)
        context.linear(ws.normed, layer.qkvProj, into: ws.qkv)
        let stride = 3 * d
        let ids = UnsafeBufferPointer(start: identity, count: patchCount)
        RowOps.gather(ws.qkv.floats + d, stride: stride, rows: ids, width: d, into: refKeys[l].floats, stride: d)
        RowOps.gather(ws.qkv.floats + 2 * d, stride: stride, rows: ids, width: d, into: refValues[l].floats, stride: d)
        context.attention(
            queries: ws.qkv.floats, queryCount: patchCount, queryStride: stride,
            keys: HeadMajorView(base: refKeys[l].raw, headStride: headDim, rowStride: d),
            values: HeadMajorView(base: refValues[l].raw, headStride: headDim, rowStride: d),
            keyCount: patchCount, heads: heads, kvHeads: heads, headDim: headDim,
            scale: 1 / Float(headDim).squareRoot(), causalOffset: nil, into: ws.attention,
            kernel: vision.attentionKernel)
        context.linear(ws.attention, layer.outProj, into: refAttention[l])
        Ops.add(ws.hidden, refAttention[l], into: ws.hidden)
        let n2 = layer.layerNorm2
        Ops.layerNorm(ws.hidden, weight: n2.weight, bias: n2.bias, eps: n2.eps, into: ws.normed)
        context.linear(ws.normed, layer.fc1, into: ws.mlp)
        Ops.geluTanh(ws.mlp)
        context.linear(ws.mlp, layer.fc2, into: refMLP[l])
        Ops.add(ws.hidden, refMLP[l], into: ws.hidden)
    }

    /// A layer that recomputes only the selected patches; returns the mean key cosine to the reference.
    private func cachedLayer(_ l: Int, context: ComputeContext) -> Float {
        let vision = model.vision
        let layer = vision.layers[l]
        let ws = workspace
        let d = vision.config.hiddenSize
        let heads = vision.config.numAttentionHeads
        let headDim = d / heads
        let p = patchCount
        let s = selectedCount
        let sel = UnsafeBufferPointer(start: selected, count: s)
        // Keys of every patch, and how far each moved from the reference.
        let n1 = layer.layerNorm1
        Ops.layerNorm(ws.hidden, weight: n1.weight, bias: n1.bias, eps: n1.eps, into: ws.normed)
        context.linear(ws.normed, layer.kProj, into: keysAll)
        RowOps.cosines(keysAll.floats, stride: d, refKeys[l].floats, stride: d, rows: p, width: d, into: cosines.floats)
        var sum: Float = 0
        for i in 0..<p { sum += cosines.floats[i] }
        RowOps.select(s, of: cosines.floats, count: p, largest: false, scratch: selectScratch, into: selected)
        // q and v of the selected patches; values of the others from the reference.
        RowOps.gather(ws.normed.floats, stride: d, rows: sel, width: d, into: rowsS.floats, stride: d)
        context.linear(rowsS, layer.qProj, into: qS)
        context.linear(rowsS, layer.vProj, into: vS)
        valuesAll.copy(from: refValues[l])
        RowOps.scatter(vS.floats, stride: d, rows: sel, width: d, into: valuesAll.floats, stride: d)
        // Attention branch: selected queries over every key.
        context.attention(
            queries: qS.floats, queryCount: s, queryStride: d,
            keys: HeadMajorView(base: keysAll.raw, headStride: headDim, rowStride: d),
            values: HeadMajorView(base: valuesAll.raw, headStride: headDim, rowStride: d),
            keyCount: p, heads: heads, kvHeads: heads, headDim: headDim, scale: 1 / Float(headDim).squareRoot(),
            causalOffset: nil, into: attnS, kernel: vision.attentionKernel)
        context.linear(attnS, layer.outProj, into: outS)
        branch.copy(from: refAttention[l])
        RowOps.scatter(outS.floats, stride: d, rows: sel, width: d, into: branch.floats, stride: d)
        Ops.add(ws.hidden, branch, into: ws.hidden)
        // MLP branch on the selected patches' current residual.
        RowOps.gather(ws.hidden.floats, stride: d, rows: sel, width: d, into: rowsS.floats, stride: d)
        let n2 = layer.layerNorm2
        Ops.layerNorm(rowsS, weight: n2.weight, bias: n2.bias, eps: n2.eps, into: rowsS)
        context.linear(rowsS, layer.fc1, into: hS)
        Ops.geluTanh(hS)
        context.linear(hS, layer.fc2, into: outS)
        branch.copy(from: refMLP[l])
        RowOps.scatter(outS.floats, stride: d, rows: sel, width: d, into: branch.floats, stride: d)
        Ops.add(ws.hidden, branch, into: ws.hidden)
        return sum / Float(p)
    }
}
