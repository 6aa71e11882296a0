// A linear layer's weights as the checkpoint stores them: W [out, in] (PyTorch Linear) and an optional bias [out].
// Immutable after load and shared between streams.

/// Weights of y = x · Wᵀ + b.
public struct Linear: Sendable {
    /// [out, in].
    public let weight: Tensor
    /// [out], or nil.
    public let bias: Tensor?

    /// Input width (K).
    public var inFeatures: Int { weight.shape[1] }
    /// Output width (N).
    public var outFeatures: Int { weight.shape[0] }

    /// Wraps `weight` [out, in] and `bias` [out].
    public init(weight: Tensor, bias: Tensor? = nil) {
        precondition(weight.shape.count == 2, "Linear weight must be 2-D, got \(weight.shape)")
        precondition(bias.map { $0.count == weight.shape[0] } ?? true, "Linear bias does not match \(weight.shape)")
        self.weight = weight
        self.bias = bias
    }
}

extension Linear {
    /// The same layer with its weight rounded to bf16 (bias stays f32).
    public func bf16() -> Linear {
        guard weight.dtype == .f32 else { return self }
        let w = Tensor(zeros: weight.shape, dtype: .bf16)
        Conversions.toBF16(weight.floats, count: weight.count, into: w.raw.assumingMemoryBound(to: UInt16.self))
        return Linear(weight: w, bias: bias)
    }
}

extension Linear {
    /// Layers of the same input width stacked along the output (rows of `parts[0]` first): one GEMM computes all
    /// of them, and their outputs sit side by side in each output row.
    public static func stacking(_ parts: [Linear]) -> Linear {
        let k = parts[0].inFeatures
        precondition(parts.allSatisfy { $0.inFeatures == k && $0.weight.dtype == .f32 }, "stacking: f32 layers of one width")
        let n = parts.reduce(0) { $0 + $1.outFeatures }
        let weight = Tensor(zeros: Shape(n, k))
        let hasBias = parts.contains { $0.bias != nil }
        let bias = hasBias ? Tensor(zeros: Shape(n)) : nil
        var row = 0
        for p in parts {
            (weight.floats + row * k).update(from: p.weight.floats, count: p.weight.count)
            if let bias, let b = p.bias { (bias.floats + row).update(from: b.floats, count: b.count) }
            row += p.outFeatures
        }
        return Linear(weight: weight, bias: bias)
    }

    /// Output rows `range` of this layer, as a layer (no copy).
    public func rows(_ range: Range<Int>) -> Linear {
        Linear(weight: weight.rows(range), bias: bias?.rows(range))
    }
}
