// Dequantisation of ggml tensor data to f32 (ggml-quants.c `dequantize_row_q4_0`, `_q4_1`, `_q8_0`; gguf-py
// quants.py, which transformers uses and which the goldens come from). Block formats, 32 elements per block:
//
//   Q8_0  (34 bytes)  f16 d | i8 q[32]            x[j] = q[j] · d
//   Q4_0  (18 bytes)  f16 d | u8 qs[16]           x[j] = ((qs[j] & 0xF) − 8) · d,  x[j+16] = ((qs[j] >> 4) − 8) · d
//   Q4_1  (20 bytes)  f16 d | f16 m | u8 qs[16]   x[j] = (qs[j] & 0xF) · d + m,    x[j+16] = (qs[j] >> 4) · d + m
// (j < 16 in the Q4 formulas)
//
// so the low nibbles are the first 16 elements of a block and the high nibbles the last 16. `· d + m` is two
// roundings (multiply, then add), as in gguf-py, never a fused multiply-add: the results are bit-identical to the
// golden values. Plain types: F32 is copied, F16 and BF16 widened.
//
// Debug builds: the loops walk raw pointers with `while` loops, wrapping arithmetic and only concrete conversions
// (`Float(Int)`, never the generic `Float(UInt8)`, which is 3-4× slower unoptimised), so an unoptimised build
// dequantises the 135M-parameter model in about a second.

import Foundation
import Kernels

/// Block dequantisers from ggml's storage types to f32.
enum GGUFDequantizer {
    /// Elements per block of the quantised types.
    static let blockSize = 32

    /// Writes `count` f32 values decoded from `source` (data of `type`) to `destination`.
    /// `type` must be dequantisable and `count` a multiple of its block size (checked by the caller).
    static func dequantize(
        _ type: GGUFTensorType, from source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>,
        count: Int
    ) {
        switch type {
        case .f32: UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: 4 * count)
        case .f16: Conversions.widen(source, dtype: .f16, count: count, into: destination)
        case .bf16: Conversions.widen(source, dtype: .bf16, count: count, into: destination)
        case .q8_0: dequantizeQ8_0(source, destination, count / blockSize)
        case .q4_0: dequantizeQ4_0(source, destination, count / blockSize)
        case .q4_1: dequantizeQ4_1(source, destination, count / blockSize)
        default: preconditionFailure("dequantize called for \(type)")
        }
    }

    /// IEEE half → float for a raw 16-bit pattern.
    static func f16ToF32(_ bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    private static func dequantizeQ8_0(_ source: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ blocks: Int) {
        var src = source
        var dst = out
        var b = 0
        while b < blocks {
            let d = f16ToF32(src.loadUnaligned(as: UInt16.self))
            let q = (src + 2).assumingMemoryBound(to: Int8.self)
            var j = 0
            while j < 32 {
                dst[j] = Float(Int(q[j])) * d
                j &+= 1
            }
            src += 34
            dst += 32
            b &+= 1
        }
    }

    private static func dequantizeQ4_0(_ source: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ blocks: Int) {
        var src = source
        var dst = out
        var b = 0
        while b < blocks {
            let d = f16ToF32(src.loadUnaligned(as: UInt16.self))
            let qs = (src + 2).assumingMemoryBound(to: UInt8.self)
            var j = 0
            while j < 16 {
                let q = Int(qs[j])
                dst[j] = Float((q & 0x0F) &- 8) * d
                dst[j &+ 16] = Float((q &>> 4) &- 8) * d
                j &+= 1
            }
            src += 18
            dst += 32
            b &+= 1
        }
    }

    private static func dequantizeQ4_1(_ source: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ blocks: Int) {
        var src = source
        var dst = out
        var b = 0
        while b < blocks {
            let d = f16ToF32(src.loadUnaligned(as: UInt16.self))
            let m = f16ToF32(src.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let qs = (src + 4).assumingMemoryBound(to: UInt8.self)
            var j = 0
            while j < 16 {
                let q = Int(qs[j])
                dst[j] = Float(q & 0x0F) * d + m
                dst[j &+ 16] = Float(q &>> 4) * d + m
                j &+= 1
            }
            src += 20
            dst += 32
            b &+= 1
        }
    }
}
