// The fused single-token decode step (see include/ckernels_decode.h).
//
// One parallel region per token. Thread t of n owns fixed slices: rows of every matrix (GEMVs), query heads
// (attention), MLP blocks. Tiny row-wise operations (RMSNorm of D values) are computed redundantly by every
// thread into private buffers, which costs less than a barrier. Barriers separate the steps that read what other
// threads wrote: qkv → attention → o_proj (residual) → gate/up → down (residual) → … → lm_head.
#include "ckernels.h"
#include "ckernels_decode.h"
#include "vecmath_avx512.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
extern int omp_get_max_threads(void);

#if defined(__x86_64__)
#define VK_CLONES_DECODE __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VK_CLONES_DECODE
#endif

// MARK: - Barrier

typedef struct {
    _Atomic int arrived;
    _Atomic int phase;
} vk_barrier;

/// Sense-reversing barrier. Spins briefly (threads are all busy within a token), then yields so an oversubscribed
/// machine does not burn a core on a descheduled partner.
static void vk_barrier_wait(vk_barrier *b, int count) {
    if (count <= 1) return;
    int phase = atomic_load_explicit(&b->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) == count - 1) {
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&b->phase, phase + 1, memory_order_release);
        return;
    }
    for (long spins = 0; atomic_load_explicit(&b->phase, memory_order_acquire) == phase; spins++) {
        if (spins > 4000) sched_yield();
#if defined(__x86_64__)
        else __builtin_ia32_pause();
#endif
    }
}

// MARK: - Helpers


/// Thread t's share of n items, in whole multiples of `align` (the last thread takes the remainder).
static void vk_split(long n, int t, int nt, long align, long *begin, long *end) {
    long units = (n + align - 1) / align;
    long per = units / nt, extra = units % nt;
    long b = t * per + (t < extra ? t : extra);
    long e = b + per + (t < extra ? 1 : 0);
    *begin = b * align < n ? b * align : n;
    *end = e * align < n ? e * align : n;
}

static inline float vk_bf16_value(uint16_t v) {
    uint32_t bits = (uint32_t)v << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// MARK: - GEMV (rows r0 ..< r1 of y = W·x)

VK_CLONES_DECODE static void gemv_rows_generic(const vk_matrix *w, const float *x, float *y, long r0, long r1,
                                               int accumulate) {
    long k = w->cols;
    for (long r = r0; r < r1; r++) {
#pragma clang fp reassociate(on)
        float s = 0;
        if (w->type == VK_WEIGHT_F32) {
            const float *row = (const float *)w->data + r * k;
            for (long i = 0; i < k; i++) s += row[i] * x[i];
        } else if (w->type == VK_WEIGHT_BF16) {
            const uint16_t *row = (const uint16_t *)w->data + r * k;
            for (long i = 0; i < k; i++) s += vk_bf16_value(row[i]) * x[i];
        } else {
            const int8_t *row = (const int8_t *)w->data + r * k;
            for (long i = 0; i < k; i++) s += (float)row[i] * x[i];
            s *= w->scales[r];
        }
        y[r] = accumulate ? y[r] + s : s;
    }
}

#define VK_LOAD_F32(p, i) _mm512_loadu_ps((const float *)(p) + (i))
#define VK_LOAD_BF16(p, i) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)(p) + (i)))), 16))
#define VK_LOAD_Q8(p, i) \
    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)((const int8_t *)(p) + (i)))))
#define VK_MLOAD_F32(m, p, i) _mm512_maskz_loadu_ps(m, (const float *)(p) + (i))
#define VK_MLOAD_BF16(m, p, i) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)(p) + (i))), 16))
#define VK_MLOAD_Q8(m, p, i) \
    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, (const int8_t *)(p) + (i))))

/// Rows ahead that the GEMV kernels prefetch (rows are a few cache lines: the hardware prefetcher alone leaves the
/// cores waiting for DRAM).
#define VK_PREFETCH_ROWS 8

// Four rows at a time, two 16-wide steps per iteration (8 independent accumulators), masked tail.
#define VK_DEFINE_GEMV_AVX512(NAME, ELEM, LOAD, MLOAD, SCALED)                                                        \
    VK_AVX512 static void NAME(const vk_matrix *w, const float *x, float *y, long r0, long r1, int accumulate) {    \
        const long k = w->cols;                                                                                       \
        const ELEM *base = (const ELEM *)w->data;                                                                     \
        long r = r0;                                                                                                  \
        for (; r < r1; r += 4) {                                                                                      \
            long nr = r1 - r < 4 ? r1 - r : 4;                                                                        \
            const ELEM *p0 = base + r * k;                                                                            \
            const ELEM *p1 = base + (r + (nr > 1 ? 1 : 0)) * k;                                                       \
            const ELEM *p2 = base + (r + (nr > 2 ? 2 : 0)) * k;                                                       \
            const ELEM *p3 = base + (r + (nr > 3 ? 3 : 0)) * k;                                                       \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;          \
            long i = 0;                                                                                               \
            for (; i + 32 <= k; i += 32) {                                                                            \
                /* prefetch the group VK_PREFETCH_ROWS rows ahead: 4·32 elements of it per iteration */              \
                const char *ahead = (const char *)(base + (r + VK_PREFETCH_ROWS) * k + 4 * i);                        \
                for (int pf = 0; pf < (int)(4 * 32 * sizeof(ELEM)); pf += 64) _mm_prefetch(ahead + pf, _MM_HINT_T0); \
                __m512 xa = _mm512_loadu_ps(x + i), xb = _mm512_loadu_ps(x + i + 16);                                 \
                a0 = _mm512_fmadd_ps(LOAD(p0, i), xa, a0);                                                            \
                a1 = _mm512_fmadd_ps(LOAD(p1, i), xa, a1);                                                            \
                a2 = _mm512_fmadd_ps(LOAD(p2, i), xa, a2);                                                            \
                a3 = _mm512_fmadd_ps(LOAD(p3, i), xa, a3);                                                            \
                b0 = _mm512_fmadd_ps(LOAD(p0, i + 16), xb, b0);                                                       \
                b1 = _mm512_fmadd_ps(LOAD(p1, i + 16), xb, b1);                                                       \
                b2 = _mm512_fmadd_ps(LOAD(p2, i + 16), xb, b2);                                                       \
                b3 = _mm512_fmadd_ps(LOAD(p3, i + 16), xb, b3);                                                       \
            }                                                                                                         \
            for (; i < k; i += 16) {                                                                                  \
                __mmask16 m = k - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - i)) - 1);                     \
                __m512 xa = _mm512_maskz_loadu_ps(m, x + i);                                                          \
                a0 = _mm512_fmadd_ps(MLOAD(m, p0, i), xa, a0);                                                        \
                a1 = _mm512_fmadd_ps(MLOAD(m, p1, i), xa, a1);                                                        \
                a2 = _mm512_fmadd_ps(MLOAD(m, p2, i), xa, a2);                                                        \
                a3 = _mm512_fmadd_ps(MLOAD(m, p3, i), xa, a3);                                                        \
            }                                                                                                         \
            float s[4] = {_mm512_reduce_add_ps(_mm512_add_ps(a0, b0)), _mm512_reduce_add_ps(_mm512_add_ps(a1, b1)),   \
                          _mm512_reduce_add_ps(_mm512_add_ps(a2, b2)), _mm512_reduce_add_ps(_mm512_add_ps(a3, b3))};  \
            for (long j = 0; j < nr; j++) {                                                                           \
                float v = SCALED ? s[j] * w->scales[r + j] : s[j];                                                    \
                y[r + j] = accumulate ? y[r + j] + v : v;                                                             \
            }                                                                                                         \
        }                                                                                                             \
    }

VK_DEFINE_GEMV_AVX512(gemv_rows_f32_avx512, float, VK_LOAD_F32, VK_MLOAD_F32, 0)
VK_DEFINE_GEMV_AVX512(gemv_rows_bf16_avx512, uint16_t, VK_LOAD_BF16, VK_MLOAD_BF16, 0)
VK_DEFINE_GEMV_AVX512(gemv_rows_q8_avx512, int8_t, VK_LOAD_Q8, VK_MLOAD_Q8, 1)

/// Rows r0 ..< r1 of y = W·x (weight-only quantisation: int8 and bf16 weights are widened to f32 in registers
/// and multiplied with the exact f32 activations).
///
/// Measured on a 2-core Zen 4: with prefetching this streams the int8 decoder at the machine's DRAM bandwidth
/// (~24 GB/s, 154 tokens/s for SmolVLM2-256M). An int8 × int8 variant on AVX-512 VNNI (activations quantised per
/// block of 64) was slower (124 tokens/s: the quantisation and masked loads cost more than the multiplies it
/// saves) and less exact (logits cosine 0.9988 against fp32 on a fixture), so it was removed.
static void gemv_rows(const vk_matrix *w, const float *x, float *y, long r0, long r1, int accumulate, int avx512) {
    if (r0 >= r1) return;
    if (avx512) {
        switch (w->type) {
        case VK_WEIGHT_F32: gemv_rows_f32_avx512(w, x, y, r0, r1, accumulate); return;
        case VK_WEIGHT_BF16: gemv_rows_bf16_avx512(w, x, y, r0, r1, accumulate); return;
        default: gemv_rows_q8_avx512(w, x, y, r0, r1, accumulate); return;
        }
    }
    gemv_rows_generic(w, x, y, r0, r1, accumulate);
}

void vk_gemv(const vk_matrix *w, const float *x, float *y, int accumulate) {
    gemv_rows(w, x, y, 0, w->rows, accumulate, vk_cpu_has_avx512());
}

VK_CLONES_DECODE void vk_quantize_rows_q8(const float *w, long rows, long cols, int8_t *q, float *scales) {
    for (long r = 0; r < rows; r++) {
        const float *row = w + r * cols;
        float m = 0;
        for (long i = 0; i < cols; i++) m = fabsf(row[i]) > m ? fabsf(row[i]) : m;
        float s = m > 0 ? m / 127.0f : 1.0f;
        float inv = 1.0f / s;
        for (long i = 0; i < cols; i++) {
            float v = rintf(row[i] * inv);  // nearest, ties to even (the default rounding mode)
            q[r * cols + i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
        scales[r] = s;
    }
}

// MARK: - Small per-token operations

VK_CLONES_DECODE static void rms_norm_private(const float *x, const float *w, float *y, long d, float eps) {
#pragma clang fp reassociate(on)
    float ss = 0;
    for (long i = 0; i < d; i++) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)d + eps);
    for (long i = 0; i < d; i++) y[i] = w[i] * (x[i] * inv);
}

static void rope_head(float *v, long hd, const float *c, const float *s) {
    long half = hd / 2;
    for (long i = 0; i < half; i++) {
        float a = v[i], b = v[half + i];
        v[i] = a * c[i] - b * s[i];
        v[half + i] = b * c[i] + a * s[i];
    }
}

VK_AVX512 static inline __m512 load_kv16(const void *base, long i, int bf16) {
    if (bf16)
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + i))), 16));
    return _mm512_loadu_ps((const float *)base + i);
}

/// Partial attention of one GQA group over keys [k0, k1) of one KV head: for each of the `group` query heads,
/// the local max m, the local sum l = Σ e^(s−m) and o = Σ e^(s−m)·v (unnormalised), written to part[g·(hd+2)…].
/// Each key and value row is read once for the whole group. hd is a multiple of 16, at most 128.
VK_AVX512 static void attend_group_partial(const float *q, long group, const void *k, const void *v, long k0, long k1,
                                           long hd, float scale, int bf16, float *scores, float *part) {
    const long hv = hd / 16;
    long n = k1 - k0;
    for (long g = 0; g < group; g++) {
        float *pg = part + g * (hd + 2);
        if (n <= 0) {
            pg[0] = -INFINITY;
            pg[1] = 0;
            memset(pg + 2, 0, sizeof(float) * hd);
        }
    }
    if (n <= 0) return;
    // Scores: one K row load serves every head of the group.
    for (long t = k0; t < k1; t++) {
        __m512 kr[8];
        for (long c = 0; c < hv; c++) kr[c] = load_kv16(k, t * hd + c * 16, bf16);
        for (long g = 0; g < group; g++) {
            const float *qg = q + g * hd;
            __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(qg), kr[0]);
            for (long c = 1; c < hv; c++) acc = _mm512_fmadd_ps(_mm512_loadu_ps(qg + c * 16), kr[c], acc);
            scores[g * n + (t - k0)] = _mm512_reduce_add_ps(acc) * scale;
        }
    }
    // Local softmax numerators per head.
    for (long g = 0; g < group; g++) {
        float *sg = scores + g * n;
        __m512 vmax = _mm512_set1_ps(-INFINITY);
        long t = 0;
        for (; t + 16 <= n; t += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(sg + t));
        float m = _mm512_reduce_max_ps(vmax);
        for (; t < n; t++) m = sg[t] > m ? sg[t] : m;
        __m512 vm = _mm512_set1_ps(m), vsum = _mm512_setzero_ps();
        for (t = 0; t < n; t += 16) {
            __mmask16 mk = n - t >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - t)) - 1);
            __m512 e = _mm512_maskz_mov_ps(mk, vk_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, sg + t), vm)));
            _mm512_mask_storeu_ps(sg + t, mk, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        part[g * (hd + 2)] = m;
        part[g * (hd + 2) + 1] = _mm512_reduce_add_ps(vsum);
    }
    // Values: one V row load serves every head of the group (group ≤ 4 keeps accumulators in registers for
    // Hd = 64; larger groups spill, still correct).
    for (long g0 = 0; g0 < group; g0 += 4) {
        long ng = group - g0 < 4 ? group - g0 : 4;
        __m512 acc[4][8];
        for (long g = 0; g < 4; g++)
            for (long c = 0; c < hv; c++) acc[g][c] = _mm512_setzero_ps();
        for (long t = k0; t < k1; t++) {
            __m512 vr[8];
            for (long c = 0; c < hv; c++) vr[c] = load_kv16(v, t * hd + c * 16, bf16);
            for (long g = 0; g < ng; g++) {
                __m512 p = _mm512_set1_ps(scores[(g0 + g) * n + (t - k0)]);
                for (long c = 0; c < hv; c++) acc[g][c] = _mm512_fmadd_ps(p, vr[c], acc[g][c]);
            }
        }
        for (long g = 0; g < ng; g++)
            for (long c = 0; c < hv; c++) _mm512_storeu_ps(part + (g0 + g) * (hd + 2) + 2 + c * 16, acc[g][c]);
    }
}

VK_AVX512 static void silu_mul16_avx512(const float *g, const float *u, float *out) {
    __m512 gv = _mm512_loadu_ps(g), one = _mm512_set1_ps(1.0f);
    __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, vk_exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
    _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_mul_ps(gv, sig), _mm512_loadu_ps(u)));
}

// MARK: - The step

struct vk_step_args {
    const vk_decoder *d;
    float *x, *logits, *scratch;
    int32_t position;
    long past;
    vk_barrier barrier;
    int avx512;
};

long vk_decode_scratch_floats(const vk_decoder *d) {
    long qkv = (d->heads + 2 * d->kv_heads) * d->head_dim;
    long threads = omp_get_max_threads();
    long group = d->heads / d->kv_heads;
    // shared: qkv, attention output, MLP activation, attention partials [threads, H, Hd + 2];
    // per thread: normed row, scores of a group over its key range, 32 gate/up values.
    return qkv + d->heads * d->head_dim + d->intermediate + threads * d->heads * (d->head_dim + 2) +
           threads * (d->hidden + group * d->capacity + 32 + 16) + 64;
}

static void vk_step_thread(void *p) {
    struct vk_step_args *a = p;
    const vk_decoder *d = a->d;
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const long hd = d->head_dim, hq = d->heads * hd, hk = d->kv_heads * hd;
    const long group = d->heads / d->kv_heads, half = hd / 2;
    float *qkv = a->scratch;
    float *attn = qkv + hq + 2 * hk;
    float *act = attn + hq;
    float *partials = act + d->intermediate;  // [nt, H, Hd + 2]
    float *mine = partials + nt * d->heads * (hd + 2) + t * (d->hidden + group * d->capacity + 32 + 16);
    float *normed = mine, *scores = mine + d->hidden, *gu = scores + group * d->capacity;
    const int grouped = a->avx512 && hd % 16 == 0 && hd <= 128;
    const float *cosr = d->rope_cos + (long)a->position * half, *sinr = d->rope_sin + (long)a->position * half;
    const float scale = 1.0f / sqrtf((float)hd);
    long b, e;

    for (long l = 0; l < d->layers; l++) {
        const vk_decode_layer *L = &d->layer[l];
        // q, k, v of the new token.
        rms_norm_private(a->x, L->input_norm, normed, d->hidden, d->eps);
        vk_split(L->qkv.rows, t, nt, hd, &b, &e);  // head-aligned, so each thread can rotate what it computed
        gemv_rows(&L->qkv, normed, qkv, b, e, 0, a->avx512);
        for (long r = b; r < e; r += hd) {
            if (L->k_raw && r >= hq && r < hq + hk) {  // the pre-RoPE key, the source of later re-rotations
                memcpy(L->k_raw + ((r - hq) / hd * d->capacity + a->past) * hd, qkv + r, sizeof(float) * hd);
            }
            if (r < hq + hk) rope_head(qkv + r, hd, cosr, sinr);
            if (r >= hq) {  // keys and values go to the cache slot `past`
                long is_v = r >= hq + hk;
                long head = (r - hq - (is_v ? hk : 0)) / hd;
                long slot = (head * d->capacity + a->past) * hd;
                void *cache = is_v ? L->v_cache : L->k_cache;
                if (d->kv_bf16) vk_f32_to_bf16(qkv + r, (uint16_t *)cache + slot, hd);
                else memcpy((float *)cache + slot, qkv + r, sizeof(float) * hd);
            }
        }
        vk_barrier_wait(&a->barrier, nt);
        if (grouped) {
            // Attention split by keys: each thread takes a range of the cache for every KV head (each K/V row is
            // read once per group, and both threads stream), then the partial softmaxes are merged per head.
            long n = a->past + 1;
            long k0, k1;
            vk_split(n, t, nt, 16, &k0, &k1);
            size_t elem = d->kv_bf16 ? 2 : 4;
            for (long j = 0; j < d->kv_heads; j++) {
                const char *kc = (const char *)L->k_cache + (size_t)(j * d->capacity * hd) * elem;
                const char *vc = (const char *)L->v_cache + (size_t)(j * d->capacity * hd) * elem;
                attend_group_partial(qkv + j * group * hd, group, kc, vc, k0, k1, hd, scale, d->kv_bf16, scores,
                                     partials + (t * d->heads + j * group) * (hd + 2));
            }
            vk_barrier_wait(&a->barrier, nt);
            vk_split(d->heads, t, nt, 1, &b, &e);
            for (long h = b; h < e; h++) {
                float m = -INFINITY;
                for (int u = 0; u < nt; u++) {
                    float mu = partials[(u * d->heads + h) * (hd + 2)];
                    m = mu > m ? mu : m;
                }
                float l = 0;
                float *out = attn + h * hd;
                memset(out, 0, sizeof(float) * hd);
                for (int u = 0; u < nt; u++) {
                    const float *pu = partials + (u * d->heads + h) * (hd + 2);
                    if (pu[0] == -INFINITY) continue;
                    float w = expf(pu[0] - m);
                    l += pu[1] * w;
                    for (long i = 0; i < hd; i++) out[i] += pu[2 + i] * w;
                }
                float inv = 1.0f / l;
                for (long i = 0; i < hd; i++) out[i] *= inv;
            }
        } else {
            // Attention, query heads split across threads (f32 cache).
            vk_split(d->heads, t, nt, 1, &b, &e);
            for (long h = b; h < e; h++) {
                long j = h / group;
                const float *kc = (const float *)L->k_cache + j * d->capacity * hd;
                const float *vc = (const float *)L->v_cache + j * d->capacity * hd;
                vk_attend_row(qkv + h * hd, kc, vc, a->past + 1, hd, hd, scale, scores, attn + h * hd);
            }
        }
        vk_barrier_wait(&a->barrier, nt);
        // x += o_proj(attn)
        vk_split(d->hidden, t, nt, 16, &b, &e);
        gemv_rows(&L->o, attn, a->x, b, e, 1, a->avx512);
        vk_barrier_wait(&a->barrier, nt);
        // act = silu(gate(n)) ⊙ up(n), in blocks of 16 interleaved rows.
        rms_norm_private(a->x, L->post_norm, normed, d->hidden, d->eps);
        vk_split(d->intermediate / 16, t, nt, 1, &b, &e);
        for (long blk = b; blk < e; blk++) {
            gemv_rows(&L->gate_up, normed, gu - 32 * blk, 32 * blk, 32 * blk + 32, 0, a->avx512);
            if (a->avx512) {
                silu_mul16_avx512(gu, gu + 16, act + 16 * blk);
            } else {
                for (int i = 0; i < 16; i++) act[16 * blk + i] = gu[i] / (1.0f + expf(-gu[i])) * gu[16 + i];
            }
        }
        vk_barrier_wait(&a->barrier, nt);
        // x += down(act)
        vk_split(d->hidden, t, nt, 16, &b, &e);
        gemv_rows(&L->down, act, a->x, b, e, 1, a->avx512);
        vk_barrier_wait(&a->barrier, nt);
    }
    rms_norm_private(a->x, d->final_norm, normed, d->hidden, d->eps);
    vk_split(d->vocab, t, nt, 64, &b, &e);
    gemv_rows(&d->lm_head, normed, a->logits, b, e, 0, a->avx512);
}

void vk_decode_step(const vk_decoder *d, float *x, int32_t position, long past, float *logits, float *scratch) {
    struct vk_step_args a = {d, x, logits, scratch, position, past, {0, 0}, vk_cpu_has_avx512()};
    int threads = omp_get_max_threads();
    if (threads <= 1) {
        vk_step_thread(&a);
        return;
    }
    GOMP_parallel(vk_step_thread, &a, (unsigned)threads, 0);
}
