// Naive twins of the runtime's kernels: the plainest loops that state the maths, in Double, used only by tests
// to check the fast kernels (llm.c's `matmul_forward_naive`, llama.cpp's test-backend-ops idea).
// Shape legend: T tokens, D hidden, H heads, Hkv KV heads, Hd head dim. Row-major flat arrays.

import Foundation

/// Reference implementations of every kernel.
public enum NaiveKernels {
    /// y[M, N] = x[M, K] · w[N, K]ᵀ + b[N].
    public static func linear(_ x: [Float], _ w: [Float], _ b: [Float]?, m: Int, k: Int, n: Int) -> [Float] {
        var y = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = Double(b?[j] ?? 0)
                for p in 0..<k { s += Double(x[i * k + p]) * Double(w[j * k + p]) }
                y[i * n + j] = Float(s)
            }
        }
        return y
    }

    /// LayerNorm over rows of `dim`.
    public static func layerNorm(_ x: [Float], _ w: [Float], _ b: [Float]?, dim: Int, eps: Double) -> [Float] {
        var y = x
        for r in 0..<(x.count / dim) {
            let row = (0..<dim).map { Double(x[r * dim + $0]) }
            let mean = row.reduce(0, +) / Double(dim)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim)
            for i in 0..<dim {
                y[r * dim + i] = Float((row[i] - mean) / (variance + eps).squareRoot() * Double(w[i]) + Double(b?[i] ?? 0))
            }
        }
        return y
    }

    /// RMSNorm over rows of `dim`.
    public static func rmsNorm(_ x: [Float], _ w: [Float], dim: Int, eps: Double) -> [Float] {
        var y = x
        for r in 0..<(x.count / dim) {
            let ms = (0..<dim).map { Double(x[r * dim + $0]) * Double(x[r * dim + $0]) }.reduce(0, +) / Double(dim)
            for i in 0..<dim { y[r * dim + i] = Float(Double(x[r * dim + i]) / (ms + eps).squareRoot() * Double(w[i])) }
        }
        return y
    }

    /// gelu with the tanh approximation.
    public static func geluTanh(_ x: [Float]) -> [Float] {
        x.map { v in
            let d = Double(v)
            return Float(0.5 * d * (1 + tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d))))
        }
    }

    /// silu(gate) · up.
    public static func siluMul(_ gate: [Float], _ up: [Float]) -> [Float] {
        zip(gate, up).map { g, u in Float(Double(g) / (1 + exp(-Double(g))) * Double(u)) }
    }

    /// Softmax over rows of `cols`.
    public static func softmax(_ x: [Float], cols: Int) -> [Float] {
        var y = x
        for r in 0..<(x.count / cols) {
            let row = (0..<cols).map { Double(x[r * cols + $0]) }
            let m = row.max()!
            let e = row.map { exp($0 - m) }
            let s = e.reduce(0, +)
            for i in 0..<cols { y[r * cols + i] = Float(e[i] / s) }
        }
        return y
    }

    /// Split-half RoPE of x [T, H·Hd] at `positions`.
    public static func rope(_ x: [Float], heads: Int, headDim: Int, positions: [Int], theta: Double) -> [Float] {
        var y = x
        let half = headDim / 2
        for (t, pos) in positions.enumerated() {
            for h in 0..<heads {
                let base = t * heads * headDim + h * headDim
                for i in 0..<half {
                    let angle = Double(pos) / pow(theta, Double(2 * i) / Double(headDim))
                    let a = Double(x[base + i]), b = Double(x[base + half + i])
                    y[base + i] = Float(a * cos(angle) - b * sin(angle))
                    y[base + half + i] = Float(b * cos(angle) + a * sin(angle))
                }
            }
        }
        return y
    }

    /// Attention: q [Tq, H·Hd], k, v [Tk, Hkv·Hd] → [Tq, H·Hd]; `causalOffset` nil = bidirectional.
    public static func attention(
        q: [Float], k: [Float], v: [Float], tq: Int, tk: Int, heads: Int, kvHeads: Int, headDim: Int,
        causalOffset: Int?
    ) -> [Float] {
        var out = [Float](repeating: 0, count: tq * heads * headDim)
        let scale = 1 / Double(headDim).squareRoot()
        for h in 0..<heads {
            let j = h / (heads / kvHeads)
            for i in 0..<tq {
                let limit = causalOffset.map { min(tk, i + $0 + 1) } ?? tk
                var scores = [Double](repeating: 0, count: limit)
                for t in 0..<limit {
                    var s = 0.0
                    for d in 0..<headDim {
                        s += Double(q[i * heads * headDim + h * headDim + d]) * Double(k[t * kvHeads * headDim + j * headDim + d])
                    }
                    scores[t] = s * scale
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }
                let sum = e.reduce(0, +)
                for d in 0..<headDim {
                    var acc = 0.0
                    for t in 0..<limit { acc += e[t] / sum * Double(v[t * kvHeads * headDim + j * headDim + d]) }
                    out[i * heads * headDim + h * headDim + d] = Float(acc)
                }
            }
        }
        return out
    }
}

/// Deterministic pseudo-random floats for tests (SplitMix64, uniform in [-scale, scale]).
public struct TestRandom: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` floats uniform in [-scale, scale].
    public mutating func floats(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
    }
}

/// The largest absolute difference between two arrays (infinity when lengths differ).
public func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i])) }
    return m
}
