// Where matrix multiplications run: oneDNN's CPU engine, a stream, and a cache of matmul primitives keyed by
// shape and layout (creating a primitive costs far more than running a small one). A context belongs to one thread
// or actor at a time — it is the per-stream state; weights are shared, immutable values.
//
// Matmul convention (PyTorch Linear): y[M, N] = x[M, K] · W[N, K]ᵀ (+ b[N]) (+ y when accumulating).

import CDNNL
import CKernels
import Synchronization

/// Errors from oneDNN are programmer errors (an unsupported shape or layout), reported with the call that failed.
@inline(__always)
func dnnlCheck(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
    precondition(status == dnnl_success, "oneDNN \(what()) failed with status \(status.rawValue)")
}

/// The process-wide oneDNN CPU engine (thread-safe, created once).
final class DNNLEngine: @unchecked Sendable {
    static let shared = DNNLEngine()
    let engine: dnnl_engine_t

    private init() {
        var e: dnnl_engine_t?
        dnnlCheck(dnnl_engine_create(&e, dnnl_cpu, 0), "engine creation")
        engine = e!
    }
}

/// Sets the thread count of every parallel kernel (ours and oneDNN's: both use the same OpenMP runtime).
public func setComputeThreads(_ count: Int) {
    vk_set_threads(Int32(max(1, count)))
}

/// The thread count kernels use.
public var computeThreads: Int { Int(vk_threads()) }

/// Per-stream compute state: a oneDNN stream, cached matmul primitives and scratch buffers.
public final class ComputeContext {
    let stream: dnnl_stream_t
    private var plans: [MatmulKey: MatmulPlan] = [:]
    /// oneDNN's scratch memory for every primitive of this context (user-managed scratchpad: allocated here,
    /// grown when a new primitive needs more, never per call).
    private var dnnlScratch = TensorStorage(byteCount: 0)
    private var scratch: Tensor = Tensor(zeros: [0])
    private var bf16Scratch: Tensor = Tensor(zeros: [0], dtype: .bf16)

    /// Creates a context on the shared CPU engine.
    public init() {
        var s: dnnl_stream_t?
        dnnlCheck(
            dnnl_stream_create(&s, DNNLEngine.shared.engine, UInt32(dnnl_stream_default_flags.rawValue)),
            "stream creation")
        stream = s!
    }

    deinit {
        for plan in plans.values { plan.destroy() }
        dnnl_stream_destroy(stream)
    }

    /// A scratch f32 buffer of at least `count` elements, reused across calls (grown, never shrunk).
    func scratchFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
        if scratch.count < count { scratch = Tensor(zeros: [count]) }
        return scratch.floats
    }

    /// Grows the scratch buffers now for attention over up to `keys` keys and matmul inputs of up to `elements`
    /// values, so a long-running stream never allocates them mid-run.
    public func reserve(attentionKeys keys: Int, kvHeads: Int, headDim: Int, matmulInputElements elements: Int = 0) {
        let threads = max(1, computeThreads)
        let flash = max(vk_flash_scratch_floats(headDim), vk_flash_bf16_scratch_floats(headDim))
        _ = scratchFloats(max(threads * keys, threads * flash + vk_flash_shared_floats(kvHeads, headDim, keys)))
        if bf16Scratch.count < elements { bf16Scratch = Tensor(zeros: [elements], dtype: .bf16) }
    }

    /// Matmul primitives created so far (one per distinct shape bucket).
    public var primitiveCount: Int { plans.count }

    /// The row count a matmul of `m` rows runs at: exact up to 16, then rounded up to a multiple of 16 (to 256), of 64
    /// (to 1024), then of 256. Variable lengths (chunks, questions) thus reuse a bounded set of primitives; the extra
    /// rows are computed from whatever the buffers hold there and never read (see `linear(…bucketed:)`).
    public static func bucketedRows(_ m: Int) -> Int {
        if m <= 16 { return m }
        if m <= 256 { return (m + 15) / 16 * 16 }
        if m <= 1024 { return (m + 63) / 64 * 64 }
        return (m + 255) / 256 * 256
    }

    /// y[M, N] = x[M, K] · linear.weightᵀ + bias, or `+=` when `accumulate` (a residual add fused into the GEMM).
    ///
    /// `bucketed`: run at `bucketedRows(M)` rows when x and y have room for them (workspace buffers whose rows past M
    /// hold nothing of value), so that varying M reuses a bounded set of primitives.
    public func linear(_ x: Tensor, _ layer: Linear, into y: Tensor, accumulate: Bool = false, bucketed: Bool = false) {
        let k = layer.inFeatures
        let n = layer.outFeatures
        precondition(x.count % k == 0, "linear: input \(x.shape) is not a multiple of \(k) features")
        let exact = x.count / k
        precondition(y.count == exact * n, "linear: output \(y.shape) is not [\(exact), \(n)]")
        // Run at the bucketed row count when both buffers have room for it (see `bucketedRows`).
        let bucket = bucketed ? Self.bucketedRows(exact) : exact
        let m = x.roomFor(rows: bucket, width: k) && y.roomFor(rows: bucket, width: n) ? bucket : exact
        var a = x.raw
        var aType = x.dtype
        if layer.weight.dtype == .bf16 && x.dtype == .f32 {
            // bf16 weights: round the activations to bf16 too (oneDNN's bf16 matmul takes bf16 × bf16 → f32).
            if bf16Scratch.count < m * k { bf16Scratch = Tensor(zeros: [m * k], dtype: .bf16) }
            vk_f32_to_bf16(x.floats, bf16Scratch.raw.assumingMemoryBound(to: UInt16.self), exact * k)
            a = bf16Scratch.raw
            aType = .bf16
        }
        matmul(
            m: m, k: k, n: n, a: a, aType: aType, weights: layer.weight, bias: layer.bias, c: y.raw,
            accumulate: accumulate)
    }

    /// C[M, N] = A[M, K] · B[N, K]ᵀ (+ bias[N]) (+ C), with B given as a weight tensor [N, K].
    func matmul(
        m: Int, k: Int, n: Int, a: UnsafeMutableRawPointer, aType: DType, weights: Tensor, bias: Tensor?,
        c: UnsafeMutableRawPointer, accumulate: Bool
    ) {
        let key = MatmulKey(
            m: m, k: k, n: n, aType: aType, bType: weights.dtype, hasBias: bias != nil, accumulate: accumulate)
        let plan: MatmulPlan
        if let cached = plans[key] {
            plan = cached
        } else {
            plan = MatmulPlan(key: key)
            plans[key] = plan
            if plan.scratchpadBytes > dnnlScratch.byteCount {
                dnnlScratch = TensorStorage(byteCount: plan.scratchpadBytes)
            }
        }
        plan.execute(a: a, b: weights.raw, bias: bias?.raw, c: c, scratchpad: dnnlScratch.base, stream: stream)
    }
}

struct MatmulKey: Hashable {
    var m, k, n: Int
    var aType, bType: DType
    var hasBias: Bool
    var accumulate: Bool
}

extension DType {
    var dnnl: dnnl_data_type_t {
        switch self {
        case .f32: return dnnl_f32
        case .bf16: return dnnl_bf16
        case .f16: return dnnl_f16
        case .i8: return dnnl_s8
        }
    }
}

/// One matmul primitive plus the memory objects it runs on (their data handles are set per call).
final class MatmulPlan {
    let primitive: dnnl_primitive_t
    let src: dnnl_memory_t
    let weights: dnnl_memory_t
    let bias: dnnl_memory_t?
    let dst: dnnl_memory_t
    let scratchpad: dnnl_memory_t
    /// Bytes of scratch memory the primitive needs.
    let scratchpadBytes: Int
    /// Execution arguments, built once (a per-call array would allocate).
    private let args: UnsafeMutablePointer<dnnl_exec_arg_t>
    private let argCount: Int32

    init(key: MatmulKey) {
        let engine = DNNLEngine.shared.engine
        var srcMD = dnnl_memory_desc_t()
        var weightsMD = dnnl_memory_desc_t()
        var biasMD = dnnl_memory_desc_t()
        var dstMD = dnnl_memory_desc_t()
        let (m, k, n) = (Int64(key.m), Int64(key.k), Int64(key.n))
        dnnlCheck(dnnl_memory_desc_init_by_strides(&srcMD, 2, [m, k], key.aType.dnnl, [k, 1]), "src desc")
        // Weights are stored [N, K] row-major (PyTorch Linear); as the K×N operand that is strides (1, K).
        dnnlCheck(dnnl_memory_desc_init_by_strides(&weightsMD, 2, [k, n], key.bType.dnnl, [1, k]), "weights desc")
        dnnlCheck(dnnl_memory_desc_init_by_strides(&dstMD, 2, [m, n], dnnl_f32, [n, 1]), "dst desc")
        if key.hasBias {
            dnnlCheck(dnnl_memory_desc_init_by_strides(&biasMD, 2, [1, n], dnnl_f32, [n, 1]), "bias desc")
        }
        var desc = dnnl_matmul_desc_t()
        dnnlCheck(
            key.hasBias
                ? dnnl_matmul_desc_init(&desc, &srcMD, &weightsMD, &biasMD, &dstMD)
                : dnnl_matmul_desc_init(&desc, &srcMD, &weightsMD, nil, &dstMD), "matmul desc")
        var attr: dnnl_primitive_attr_t?
        dnnlCheck(dnnl_primitive_attr_create(&attr), "attr")
        defer { dnnl_primitive_attr_destroy(attr) }
        dnnlCheck(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode")
        if key.accumulate {
            var ops: dnnl_post_ops_t?
            dnnlCheck(dnnl_post_ops_create(&ops), "post ops")
            dnnlCheck(dnnl_post_ops_append_sum(ops, 1.0), "sum post op")
            dnnlCheck(dnnl_primitive_attr_set_post_ops(attr, ops), "set post ops")
            dnnl_post_ops_destroy(ops)
        }
        var pd: dnnl_primitive_desc_t?
        dnnlCheck(dnnl_primitive_desc_create(&pd, &desc, attr, engine, nil), "matmul primitive desc \(key)")
        defer { dnnl_primitive_desc_destroy(pd) }
        var p: dnnl_primitive_t?
        dnnlCheck(dnnl_primitive_create(&p, pd), "matmul primitive")
        primitive = p!
        func memory(_ md: inout dnnl_memory_desc_t) -> dnnl_memory_t {
            var mem: dnnl_memory_t?
            dnnlCheck(dnnl_memory_create(&mem, &md, engine, cdnnl_memory_none()), "memory")
            return mem!
        }
        src = memory(&srcMD)
        weights = memory(&weightsMD)
        dst = memory(&dstMD)
        bias = key.hasBias ? memory(&biasMD) : nil
        var scratchMD = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0).pointee
        scratchpadBytes = dnnl_memory_desc_get_size(&scratchMD)
        scratchpad = memory(&scratchMD)
        args = .allocate(capacity: 5)
        args[0] = dnnl_exec_arg_t(arg: cdnnl_arg_src(), memory: src)
        args[1] = dnnl_exec_arg_t(arg: cdnnl_arg_weights(), memory: weights)
        args[2] = dnnl_exec_arg_t(arg: cdnnl_arg_dst(), memory: dst)
        args[3] = dnnl_exec_arg_t(arg: cdnnl_arg_scratchpad(), memory: scratchpad)
        if let bias { args[4] = dnnl_exec_arg_t(arg: cdnnl_arg_bias(), memory: bias) }
        argCount = bias == nil ? 4 : 5
    }

    func execute(
        a: UnsafeMutableRawPointer, b: UnsafeMutableRawPointer, bias biasData: UnsafeMutableRawPointer?,
        c: UnsafeMutableRawPointer, scratchpad scratch: UnsafeMutableRawPointer, stream: dnnl_stream_t
    ) {
        dnnl_memory_set_data_handle(scratchpad, scratch)
        dnnl_memory_set_data_handle(src, a)
        dnnl_memory_set_data_handle(weights, b)
        dnnl_memory_set_data_handle(dst, c)
        if let bias, let biasData { dnnl_memory_set_data_handle(bias, biasData) }
        dnnlCheck(dnnl_primitive_execute(primitive, stream, argCount, args), "matmul execute")
        dnnlCheck(dnnl_stream_wait(stream), "stream wait")
    }

    func destroy() {
        args.deallocate()
        dnnl_primitive_destroy(primitive)
        for mem in [src, weights, dst, scratchpad] { dnnl_memory_destroy(mem) }
        if let bias { dnnl_memory_destroy(bias) }
    }
}

/// What the kernels run on: our C kernels' instruction set and oneDNN's.
public enum ComputeInfo {
    /// "avx512", "avx2" or "baseline".
    public static var kernelISA: String { String(cString: vk_kernel_isa()) }

    /// Whether the CPU multiplies bf16 matrices natively (AVX-512 BF16 or AMX).
    public static var hasNativeBF16: Bool { vk_cpu_has_bf16() != 0 }

    /// oneDNN's effective CPU ISA (e.g. "avx512_core_amx").
    public static var dnnlISA: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_sse41: return "sse41"
        default: return "other"
        }
    }

    /// oneDNN's version string.
    public static var dnnlVersion: String {
        guard let v = dnnl_version() else { return "?" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.patch)"
    }
}
