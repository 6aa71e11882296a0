// Element type conversions between storage formats (bf16, f16) and f32.

import CKernels

/// Element type conversions.
public enum Conversions {
    /// Widens `count` bf16 or f16 values at `source` (any alignment) into f32.
    public static func widen(_ source: UnsafeRawPointer, dtype: DType, count: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(dtype == .bf16 || dtype == .f16, "widen from \(dtype)")
        if Int(bitPattern: source) % 2 == 0 {
            let p = source.assumingMemoryBound(to: UInt16.self)
            if dtype == .bf16 { vk_bf16_to_f32(p, out, count) } else { vk_f16_to_f32(p, out, count) }
        } else {
            let aligned = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
            defer { aligned.deallocate() }
            UnsafeMutableRawPointer(aligned).copyMemory(from: source, byteCount: count * 2)
            if dtype == .bf16 { vk_bf16_to_f32(aligned, out, count) } else { vk_f16_to_f32(aligned, out, count) }
        }
    }

    /// Rounds `count` f32 values to bf16 (nearest, ties to even).
    public static func toBF16(_ source: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<UInt16>) {
        vk_f32_to_bf16(source, out, count)
    }
}

extension Tensor {
    /// A new f32 tensor of `shape` filled uniformly in [-scale, scale] from `seed` (deterministic).
    public static func random(_ shape: [Int], seed: UInt64, scale: Float) -> Tensor {
        let t = Tensor(zeros: shape)
        vk_fill_uniform(t.floats, t.count, seed, scale)
        return t
    }

    /// A new f32 tensor of `shape` filled with `value`.
    public static func filled(_ shape: [Int], _ value: Float) -> Tensor {
        let t = Tensor(zeros: shape)
        for i in 0..<t.count { t.floats[i] = value }
        return t
    }
}
