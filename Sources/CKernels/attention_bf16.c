// Flash attention with bf16 dot products (AVX-512 BF16, `vdpbf16ps`), for the bf16 precisions: the same tiling and
// online softmax as attention_avx512.c, with Q·Kᵀ and P·V computed from bf16 operands into fp32 accumulators
// (as PyTorch's bf16 scaled-dot-product attention does), twice the arithmetic rate of the fp32 kernel.
//
// vdpbf16ps multiplies bf16 pairs: lane i accumulates a[2i]·b[2i] + a[2i+1]·b[2i+1]. So the operands are laid out
// in pairs along the reduced dimension:
//   scores  S[r, t] = Σ_d q[r, d]·k[t, d]: keys in lanes, pairs of head dimensions → Kp [Hd/2, Tk', 2]
//   output  O[r, d] = Σ_t p[r, t]·v[t, d]: head dims in lanes, pairs of keys        → Vp [Tk'/2, Hd, 2]
// Kp and Vp are built once per KV head before the tiles run; each query row's (q_d, q_d+1) and each probability
// pair (p_t, p_t+1) is broadcast as one 32-bit element. Softmax statistics stay fp32.
#include "ckernels.h"
#include "attention_common.h"

#include <math.h>
#include <string.h>

extern int omp_get_thread_num(void);

#define BK 64  // keys per block
#define SB 36  // query rows per task (a multiple of RG)
#define RG 6   // query rows per register group

#define VK_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

struct fb_args {
    const float *q;
    const void *k, *v;  // f32, or bf16 when kv_bf16
    float *out, *scratch;
    uint16_t *kp_all, *vp_all;  // per KV head: Kp [Hd/2, Tk', 2], Vp [Tk'/2, Hd, 2]
    long q_stride, kv_head_stride, kv_row_stride, out_stride;
    long tq, tk, heads, kv_heads, head_dim, causal_offset;
    float scale;
    long tasks_per_head, tk_padded;
    int kv_bf16;
};

static inline uint16_t fb_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

static inline uint16_t fb_source(const void *base, long i, int bf16) {
    return bf16 ? ((const uint16_t *)base)[i] : fb_bf16(((const float *)base)[i]);
}

long vk_flash_bf16_scratch_floats(long head_dim) { return SB * head_dim / 2 + SB * head_dim + RG * BK / 2 + 4 * SB + 64; }

int vk_flash_bf16_supported(long head_dim) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return vk_cpu_has_avx512() && __builtin_cpu_supports("avx512bf16") && head_dim % 32 == 0 &&
           head_dim <= 128;
#else
    (void)head_dim;
    return 0;
#endif
}

/// Builds Kp and Vp for KV heads × key blocks [begin, end) (zeros past Tk).
static void fb_layout(void *p, long begin, long end) {
    const struct fb_args *a = p;
    const long hd = a->head_dim, ktp = a->tk_padded, blocks = ktp / BK;
    const size_t elem = a->kv_bf16 ? 2 : 4;
    for (long task = begin; task < end; task++) {
        long j = task / blocks, kb = (task % blocks) * BK;
        const char *k = (const char *)a->k + (size_t)(j * a->kv_head_stride) * elem;
        const char *v = (const char *)a->v + (size_t)(j * a->kv_head_stride) * elem;
        uint16_t *kp = a->kp_all + j * hd * ktp;  // [hd/2][ktp][2]
        uint16_t *vp = a->vp_all + j * hd * ktp;  // [ktp/2][hd][2]
        for (long t = kb; t < kb + BK; t++) {
            int valid = t < a->tk;
            for (long d = 0; d < hd; d++) {
                uint16_t kv = valid ? fb_source(k, t * a->kv_row_stride + d, a->kv_bf16) : 0;
                uint16_t vv = valid ? fb_source(v, t * a->kv_row_stride + d, a->kv_bf16) : 0;
                kp[((d / 2) * ktp + t) * 2 + (d & 1)] = kv;
                vp[((t / 2) * hd + d) * 2 + (t & 1)] = vv;
            }
        }
    }
}

VK_AVX512BF16 __attribute__((always_inline)) static inline void fb_task(const struct fb_args *a, long task,
                                                                         float *scratch, const int hv) {
    const long hd = a->head_dim, ktp = a->tk_padded;
    const long group = a->heads / a->kv_heads;
    const long j = task / a->tasks_per_head;
    const long rows_total = a->tq * group;
    const long r0 = (task % a->tasks_per_head) * SB;
    const long r1 = r0 + SB < rows_total ? r0 + SB : rows_total;
    const long nrows = r1 - r0;
    const uint16_t *kp = a->kp_all + j * hd * ktp;
    const uint16_t *vp = a->vp_all + j * hd * ktp;

    uint16_t *qs = (uint16_t *)scratch;             // [SB, hd] bf16 scaled queries
    float *o = scratch + SB * hd / 2;                // [SB, hd] running outputs
    uint16_t *pbuf = (uint16_t *)(o + SB * hd);      // [RG, BK] bf16 probabilities
    float *m = (float *)(pbuf + RG * BK);            // [SB]
    float *l = m + SB;                               // [SB]
    long *limit = (long *)(l + SB);                  // [SB]

    long max_limit = 0;
    for (long r = 0; r < nrows; r++) {
        long row = r0 + r;
        long i = row / group, h = j * group + row % group;
        const float *qr = a->q + i * a->q_stride + h * hd;
        for (long d = 0; d < hd; d++) qs[r * hd + d] = fb_bf16(qr[d] * a->scale);
        long lim = fa_visible_keys(i, a->tk, a->causal_offset);
        limit[r] = lim;
        if (lim > max_limit) max_limit = lim;
        m[r] = -INFINITY;
        l[r] = 0;
    }
    memset(o, 0, sizeof(float) * nrows * hd);

    for (long kb = 0; kb < max_limit; kb += BK) {
        long nk = max_limit - kb < BK ? max_limit - kb : BK;
        for (long g0 = 0; g0 < nrows; g0 += RG) {
            long nr = nrows - g0 < RG ? nrows - g0 : RG;
            long active = 0;
            for (long rr = 0; rr < nr; rr++) active |= limit[g0 + rr] > kb;
            if (!active) continue;
            // Scores: per pair of head dims, 4 loads of Kp (64 keys) and one broadcast per row.
            const uint32_t *qrow[RG];
            for (int rr = 0; rr < RG; rr++) qrow[rr] = (const uint32_t *)(qs + (g0 + (rr < nr ? rr : 0)) * hd);
            __m512 s[RG][4];
            for (int rr = 0; rr < RG; rr++)
                for (int c = 0; c < 4; c++) s[rr][c] = _mm512_setzero_ps();
            for (long dp = 0; dp < hd / 2; dp++) {
                const uint16_t *krow = kp + (dp * ktp + kb) * 2;
                __m512bh k0 = (__m512bh)_mm512_loadu_si512(krow), k1 = (__m512bh)_mm512_loadu_si512(krow + 32);
                __m512bh k2 = (__m512bh)_mm512_loadu_si512(krow + 64), k3 = (__m512bh)_mm512_loadu_si512(krow + 96);
                for (int rr = 0; rr < RG; rr++) {
                    __m512bh qv = (__m512bh)_mm512_set1_epi32((int)qrow[rr][dp]);
                    s[rr][0] = _mm512_dpbf16_ps(s[rr][0], qv, k0);
                    s[rr][1] = _mm512_dpbf16_ps(s[rr][1], qv, k1);
                    s[rr][2] = _mm512_dpbf16_ps(s[rr][2], qv, k2);
                    s[rr][3] = _mm512_dpbf16_ps(s[rr][3], qv, k3);
                }
            }
            // Masks and online softmax.
            for (long rr = 0; rr < RG; rr++) {
                uint16_t *prow = pbuf + rr * BK;
                long r = g0 + rr;
                long visible = rr < nr ? limit[r] - kb : 0;
                if (visible > nk) visible = nk;
                if (visible <= 0) {
                    memset(prow, 0, sizeof(uint16_t) * BK);
                    continue;
                }
                __m512 pv[4];
                fa_softmax_block(s[rr], visible, &m[r], &l[r], o + r * hd, hd, pv);
                for (int c = 0; c < 4; c++)
                    _mm256_storeu_si256((__m256i *)(prow + c * 16), (__m256i)_mm512_cvtneps_pbh(pv[c]));
            }
            // O += P·V: per pair of keys, Hd/16 loads of Vp and one broadcast per row.
            __m512 acc[RG][8];
            for (int rr = 0; rr < RG; rr++)
                for (int c = 0; c < hv; c++)
                    acc[rr][c] = rr < nr ? _mm512_loadu_ps(o + (g0 + rr) * hd + c * 16) : _mm512_setzero_ps();
            for (long tp = 0; tp < (nk + 1) / 2; tp++) {
                const uint16_t *vrow = vp + ((kb / 2 + tp) * hd) * 2;
                __m512bh vv[8];
                for (int c = 0; c < hv; c++) vv[c] = (__m512bh)_mm512_loadu_si512(vrow + c * 32);
                for (int rr = 0; rr < RG; rr++) {
                    __m512bh pp = (__m512bh)_mm512_set1_epi32((int)((const uint32_t *)(pbuf + rr * BK))[tp]);
                    for (int c = 0; c < hv; c++) acc[rr][c] = _mm512_dpbf16_ps(acc[rr][c], pp, vv[c]);
                }
            }
            for (long rr = 0; rr < nr; rr++)
                for (int c = 0; c < hv; c++) _mm512_storeu_ps(o + (g0 + rr) * hd + c * 16, acc[rr][c]);
        }
    }
    fa_write_rows(o, l, r0, nrows, group, j, hd, a->out, a->out_stride);
}

VK_AVX512BF16 static void fb_tasks(void *p, long begin, long end) {
    const struct fb_args *a = p;
    float *scratch = a->scratch + (long)omp_get_thread_num() * vk_flash_bf16_scratch_floats(a->head_dim);
    for (long task = begin; task < end; task++) {
        // Hd/32 value accumulators of 16 dims: Hd ∈ {32, 64, 96, 128}.
        switch (a->head_dim / 16) {
        case 2: fb_task(a, task, scratch, 2); break;
        case 4: fb_task(a, task, scratch, 4); break;
        case 6: fb_task(a, task, scratch, 6); break;
        default: fb_task(a, task, scratch, 8); break;
        }
    }
}

void vk_flash_attention_bf16(const float *q, long q_stride, const void *k, const void *v, int kv_bf16,
                             long kv_head_stride, long kv_row_stride, float *out, long out_stride, long tq, long tk,
                             long heads, long kv_heads, long head_dim, float scale, long causal_offset,
                             float *scratch, float *shared) {
    long group = heads / kv_heads;
    long tasks_per_head = (tq * group + SB - 1) / SB;
    long tk_padded = (tk + BK - 1) / BK * BK;
    uint16_t *kp = (uint16_t *)shared;
    uint16_t *vp = kp + kv_heads * head_dim * tk_padded;
    struct fb_args a = {q,  k,     v,        out,      scratch,       kp,    vp,            q_stride,  kv_head_stride,
                        kv_row_stride, out_stride, tq, tk, heads, kv_heads, head_dim, causal_offset, scale,
                        tasks_per_head, tk_padded, kv_bf16};
    long tasks = tasks_per_head * kv_heads;
    long blocks = kv_heads * (tk_padded / BK);
    int small = tq * heads * tk * head_dim < 65536;
    if (small) fb_layout(&a, 0, blocks);
    else vk_parallel_for(blocks, fb_layout, &a);
    if (small) fb_tasks(&a, 0, tasks);
    else vk_parallel_for(tasks, fb_tasks, &a);
}
