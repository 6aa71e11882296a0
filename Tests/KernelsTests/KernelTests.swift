// Each fast kernel against its naive twin (TestSupport.NaiveKernels), at the stated tolerance: 1e-5 absolute on
// values of order 1 (fp32 with reassociated sums against a Double reference).

import Kernels
import Testing
import TestSupport

@Suite struct KernelTests {
    let tolerance: Float = 1e-5

    @Test(arguments: [(1, 7, 5), (3, 64, 48), (17, 130, 33), (64, 576, 192)])
    func linearMatchesNaive(m: Int, k: Int, n: Int) {
        var rng = TestRandom(seed: UInt64(m * 1000 + k))
        let x = rng.floats(m * k), w = rng.floats(n * k, scale: 0.2), b = rng.floats(n)
        let context = ComputeContext()
        let out = Tensor(zeros: [m, n])
        context.linear(Tensor(shape: [m, k], values: x), Linear(weight: Tensor(shape: [n, k], values: w), bias: Tensor(shape: [n], values: b)), into: out)
        #expect(maxAbsDifference(out.toArray(), NaiveKernels.linear(x, w, b, m: m, k: k, n: n)) < 1e-4)
        // Accumulating adds the product onto what the output holds.
        let before = rng.floats(m * n)
        let acc = Tensor(shape: [m, n], values: before)
        context.linear(Tensor(shape: [m, k], values: x), Linear(weight: Tensor(shape: [n, k], values: w)), into: acc, accumulate: true)
        let expected = zip(before, NaiveKernels.linear(x, w, nil, m: m, k: k, n: n)).map { $0 + $1 }
        #expect(maxAbsDifference(acc.toArray(), expected) < 1e-4)
    }

    @Test(arguments: [1, 5, 64, 300])
    func normsMatchNaive(rows: Int) {
        var rng = TestRandom(seed: UInt64(rows))
        let dim = 96
        let x = rng.floats(rows * dim, scale: 3), w = rng.floats(dim), b = rng.floats(dim)
        let out = Tensor(zeros: [rows, dim])
        Ops.layerNorm(Tensor(shape: [rows, dim], values: x), weight: Tensor(shape: [dim], values: w), bias: Tensor(shape: [dim], values: b), eps: 1e-6, into: out)
        #expect(maxAbsDifference(out.toArray(), NaiveKernels.layerNorm(x, w, b, dim: dim, eps: 1e-6)) < tolerance)
        Ops.rmsNorm(Tensor(shape: [rows, dim], values: x), weight: Tensor(shape: [dim], values: w), eps: 1e-5, into: out)
        #expect(maxAbsDifference(out.toArray(), NaiveKernels.rmsNorm(x, w, dim: dim, eps: 1e-5)) < tolerance)
    }

    @Test func activationsMatchNaive() {
        var rng = TestRandom(seed: 7)
        let x = rng.floats(1000, scale: 6), u = rng.floats(1000, scale: 2)
        let t = Tensor(shape: [1000], values: x)
        Ops.geluTanh(t)
        #expect(maxAbsDifference(t.toArray(), NaiveKernels.geluTanh(x)) < tolerance)
        let out = Tensor(zeros: [10, 100])
        Ops.siluMul(gate: Tensor(shape: [10, 100], values: x), up: Tensor(shape: [10, 100], values: u), into: out)
        #expect(maxAbsDifference(out.toArray(), NaiveKernels.siluMul(x, u)) < tolerance)
        // The fused form reads gate and up as the halves of one [T, 2I] row.
        var fused = [Float]()
        for r in 0..<10 {
            let lo = r * 100
            fused.append(contentsOf: x[lo..<(lo + 100)])
            fused.append(contentsOf: u[lo..<(lo + 100)])
        }
        Ops.siluMul(gateUp: Tensor(shape: [10, 200], values: fused), into: out)
        #expect(maxAbsDifference(out.toArray(), NaiveKernels.siluMul(x, u)) < tolerance)
        let s = Tensor(shape: [4, 250], values: x)
        Ops.softmax(s)
        #expect(maxAbsDifference(s.toArray(), NaiveKernels.softmax(x, cols: 250)) < 1e-6)
    }

    @Test func ropeMatchesNaive() {
        var rng = TestRandom(seed: 11)
        let heads = 3, headDim = 64
        let positions = [0, 1, 7, 100, 1000, 4095]
        let x = rng.floats(positions.count * heads * headDim)
        let rope = RotaryEmbedding(headDim: headDim, theta: 100_000, maxPositions: 4096)
        let t = Tensor(shape: [positions.count, heads * headDim], values: x)
        rope.apply(t, heads: heads, positions: positions.map(Int32.init))
        // fp32 angles (as transformers computes them) differ from exact ones by ~1e-7 relative: 5e-4 at position 4095.
        #expect(maxAbsDifference(t.toArray(), NaiveKernels.rope(x, heads: heads, headDim: headDim, positions: positions, theta: 100_000)) < 1e-3)
        let near = Array(x[0..<(4 * heads * headDim)])
        let t2 = Tensor(shape: [4, heads * headDim], values: near)
        rope.apply(t2, heads: heads, positions: [0, 1, 7, 100])
        #expect(maxAbsDifference(t2.toArray(), NaiveKernels.rope(near, heads: heads, headDim: headDim, positions: [0, 1, 7, 100], theta: 100_000)) < tolerance)
    }

    @Test(arguments: [
        (tq: 5, tk: 5, heads: 4, kvHeads: 4, hd: 16, causal: false),
        (tq: 7, tk: 7, heads: 6, kvHeads: 2, hd: 16, causal: true),
        (tq: 1, tk: 20, heads: 9, kvHeads: 3, hd: 64, causal: true),
        (tq: 1, tk: 200, heads: 9, kvHeads: 3, hd: 64, causal: true),
        (tq: 4, tk: 12, heads: 4, kvHeads: 1, hd: 32, causal: true),
        (tq: 70, tk: 150, heads: 3, kvHeads: 1, hd: 64, causal: true),
        (tq: 64, tk: 64, heads: 12, kvHeads: 12, hd: 16, causal: false),
        (tq: 130, tk: 130, heads: 2, kvHeads: 2, hd: 128, causal: false),
        (tq: 3, tk: 9, heads: 2, kvHeads: 2, hd: 8, causal: false),
    ])
    func attentionMatchesNaive(tq: Int, tk: Int, heads: Int, kvHeads: Int, hd: Int, causal: Bool) {
        var rng = TestRandom(seed: UInt64(tq * 31 + tk))
        let q = rng.floats(tq * heads * hd), k = rng.floats(tk * kvHeads * hd), v = rng.floats(tk * kvHeads * hd)
        let offset: Int? = causal ? tk - tq : nil
        let kt = Tensor(shape: [tk, kvHeads * hd], values: k), vt = Tensor(shape: [tk, kvHeads * hd], values: v)
        let expected = NaiveKernels.attention(q: q, k: k, v: v, tq: tq, tk: tk, heads: heads, kvHeads: kvHeads, headDim: hd, causalOffset: offset)
        for kernel in [AttentionKernel.automatic, .plain, .bf16] {
            let out = Tensor(zeros: [tq, heads * hd])
            ComputeContext().attention(
                q: Tensor(shape: [tq, heads * hd], values: q), keys: HeadMajorView(tokenMajor: kt, headDim: hd),
                values: HeadMajorView(tokenMajor: vt, headDim: hd), keyCount: tk, heads: heads, kvHeads: kvHeads,
                headDim: hd, scale: 1 / Float(hd).squareRoot(), causalOffset: offset, into: out, kernel: kernel)
            // bf16 operands (8-bit mantissas) against the exact result: ~1e-2 on values of order 1.
            #expect(maxAbsDifference(out.toArray(), expected) < (kernel == .bf16 ? 2e-2 : tolerance), "\(kernel)")
        }
    }

    @Test func patchifyAndPixelShuffleFollowTheirIndexMaps() {
        // pixels [C=2, 4, 4], patch 2 → 4 patches of 8 values ordered (c, kh, kw).
        let pixels = Tensor(shape: [2, 4, 4], values: (0..<32).map(Float.init))
        let patches = Tensor(zeros: [4, 8])
        Ops.patchify(pixels, patchSize: 2, into: patches)
        #expect(Array(patches.toArray()[8..<16]) == [2, 3, 6, 7, 18, 19, 22, 23])
        // grid 4×4 of D=1 shuffled by 2: token (0,1) gathers patches (0,2) (0,3) (1,2) (1,3).
        let grid = Tensor(shape: [16, 1], values: (0..<16).map(Float.init))
        let shuffled = Tensor(zeros: [4, 4])
        Ops.pixelShuffle(grid, scale: 2, into: shuffled)
        #expect(Array(shuffled.toArray()[4..<8]) == [2, 3, 6, 7])
    }

    @Test func bf16RoundsToNearestEven() {
        let values: [Float] = [1, -2.5, 3.14159, 1e-20, 65504, .infinity]
        var bits = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { Conversions.toBF16($0.baseAddress!, count: values.count, into: &bits) }
        let back = Tensor(zeros: [values.count])
        bits.withUnsafeBytes { Conversions.widen($0.baseAddress!, dtype: .bf16, count: values.count, into: back.floats) }
        for (a, b) in zip(values, back.toArray()) where a.isFinite {
            #expect(abs(a - b) <= abs(a) / 256)
        }
        #expect(bits[0] == 0x3F80)
    }
}
