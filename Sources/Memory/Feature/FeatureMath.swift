// Swift entry points to the CFeatureKernels loops over arrays and buffers, so the rest of the feature memory reads
// as maths: distances, sums, means, fp16 conversion, checksums.

import CFeatureKernels

/// Array-level wrappers of the feature kernels.
enum FeatureMath {
    /// ‖a − b‖² (same length).
    static func squaredDistance(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        precondition(a.count == b.count)
        return vfm_squared_distance(a.baseAddress!, b.baseAddress!, a.count)
    }

    /// ‖f32(a) − b‖² for fp16 `a` (the same bits as widening `a` first).
    static func squaredDistance(halves a: UnsafeBufferPointer<UInt16>, _ b: UnsafeBufferPointer<Float>) -> Float {
        precondition(a.count == b.count)
        return vfm_squared_distance_f16(a.baseAddress!, b.baseAddress!, a.count)
    }

    /// ‖a − b‖² of two arrays.
    static func squaredDistance(_ a: [Float], _ b: [Float]) -> Float {
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in squaredDistance(x, y) } }
    }

    /// a · b.
    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in vfm_dot(x.baseAddress!, y.baseAddress!, x.count) }
        }
    }

    /// acc += x.
    static func add(_ x: UnsafeBufferPointer<Float>, to acc: inout [Float]) {
        precondition(acc.count == x.count)
        acc.withUnsafeMutableBufferPointer { vfm_add($0.baseAddress!, x.baseAddress!, x.count) }
    }

    /// acc += x.
    static func add(_ x: [Float], to acc: inout [Float]) {
        x.withUnsafeBufferPointer { add($0, to: &acc) }
    }

    /// acc += a·x, in double.
    static func add(_ x: [Float], scaledBy a: Double, to acc: inout [Double]) {
        precondition(acc.count == x.count)
        x.withUnsafeBufferPointer { xs in
            acc.withUnsafeMutableBufferPointer { vfm_axpy_f64($0.baseAddress!, a, xs.baseAddress!, xs.count) }
        }
    }

    /// x / d, elementwise.
    static func divided(_ x: [Float], by d: Float) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { out, count in
            x.withUnsafeBufferPointer { vfm_divide($0.baseAddress!, d, out.baseAddress!, x.count) }
            count = x.count
        }
    }

    /// fp16 bit patterns of `x` (round to nearest even, saturating at ±65504).
    static func halves(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<UInt16>) {
        precondition(x.count == y.count)
        vfm_f32_to_f16(x.baseAddress!, y.baseAddress!, x.count)
    }

    /// The floats of fp16 bit patterns.
    static func floats(_ x: UnsafeBufferPointer<UInt16>, into y: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count == y.count)
        vfm_f16_to_f32(x.baseAddress!, y.baseAddress!, x.count)
    }

    /// The floats of `count` fp16 values at `pointer` (any alignment of 2).
    static func floats(halvesAt pointer: UnsafeRawPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, initialized in
            vfm_f16_to_f32(pointer.assumingMemoryBound(to: UInt16.self), out.baseAddress!, count)
            initialized = count
        }
    }

    /// True when every value is finite.
    static func allFinite(_ x: UnsafeBufferPointer<Float>) -> Bool {
        x.isEmpty || vfm_all_finite(x.baseAddress!, x.count) != 0
    }

    /// CRC-32C of raw bytes, continuing from `crc`.
    static func crc32c(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return vfm_crc32c(crc, base, bytes.count)
    }

    /// x scaled to unit length (zeros when its norm is 0).
    static func normalized(_ x: UnsafeBufferPointer<Float>) -> [Float] {
        let norm = vfm_dot(x.baseAddress!, x.baseAddress!, x.count).squareRoot()
        guard norm > 0, norm.isFinite else { return [Float](repeating: 0, count: x.count) }
        return [Float](unsafeUninitializedCapacity: x.count) { out, count in
            vfm_divide(x.baseAddress!, norm, out.baseAddress!, x.count)
            count = x.count
        }
    }
}
