// Flash-style attention for AVX-512 CPUs (see vk_attention in include/ckernels.h for the contract).
//
// Nothing of size Tq×Tk is ever materialised. Query rows that share a KV head (the GQA group, and every query
// position) are processed in tasks of up to SB rows; for each block of BK keys:
//   1. the key block is transposed into Kt [Hd, BK] so that 16 scores come from one FMA per head dimension;
//   2. scores S = (q·scale)·Kᵀ for RG rows at a time (RG × BK/16 accumulators in registers), masked (causal, tail);
//   3. online softmax: new row max m', p = exp(S − m'), running sum l = l·e^(m − m') + Σp, output O = O·e^(m − m');
//   4. O += p · V for the block, RG rows × Hd/16 accumulators in registers.
// Finally out = O / l. Softmax statistics are fp32 throughout.
#include "ckernels.h"
#include "vecmath_avx512.h"

#include <math.h>
#include <string.h>

extern int omp_get_thread_num(void);

#define BK 64  // keys per block
#define SB 32  // query rows per task
#define RG 4   // query rows per register group

struct fa_args {
    const float *q, *k, *v;
    float *out, *scratch;
    long q_stride, kv_head_stride, kv_row_stride, out_stride;
    long tq, tk, heads, kv_heads, head_dim, causal_offset;
    float scale;
    long tasks_per_head;
};

/// Per-thread scratch floats the kernel needs.
long vk_flash_scratch_floats(long head_dim) { return SB * head_dim * 2 + BK * head_dim + RG * BK + 4 * SB + 64; }

VK_AVX512 static inline void fa_task(const struct fa_args *a, long task, float *scratch, const int hv) {
    const long hd = a->head_dim;
    const long group = a->heads / a->kv_heads;
    const long j = task / a->tasks_per_head;
    const long rows_total = a->tq * group;
    const long r0 = (task % a->tasks_per_head) * SB;
    const long r1 = r0 + SB < rows_total ? r0 + SB : rows_total;
    const long nrows = r1 - r0;
    const float *kbase = a->k + j * a->kv_head_stride;
    const float *vbase = a->v + j * a->kv_head_stride;

    float *qs = scratch;              // [SB, hd]  scaled queries
    float *o = qs + SB * hd;          // [SB, hd]  running outputs
    float *kt = o + SB * hd;          // [hd, BK]  transposed key block
    float *pbuf = kt + BK * hd;       // [RG, BK]  probabilities of one register group
    float *m = pbuf + RG * BK;        // [SB]      running max
    float *l = m + SB;                // [SB]      running sum
    long *limit = (long *)(l + SB);   // [SB]      keys visible to each row (stored in the float area)

    long max_limit = 0;
    __m512 vscale = _mm512_set1_ps(a->scale);
    for (long r = 0; r < nrows; r++) {
        long row = r0 + r;
        long i = row / group, h = j * group + row % group;
        const float *qr = a->q + i * a->q_stride + h * hd;
        for (long c = 0; c < hd; c += 16) _mm512_storeu_ps(qs + r * hd + c, _mm512_mul_ps(_mm512_loadu_ps(qr + c), vscale));
        long lim = a->tk;
        if (a->causal_offset >= 0 && i + a->causal_offset + 1 < lim) lim = i + a->causal_offset + 1;
        limit[r] = lim;
        if (lim > max_limit) max_limit = lim;
        m[r] = -INFINITY;
        l[r] = 0;
    }
    memset(o, 0, sizeof(float) * nrows * hd);

    for (long kb = 0; kb < max_limit; kb += BK) {
        long nk = max_limit - kb < BK ? max_limit - kb : BK;
        // 1. Transpose the key block: kt[d][t] = k[kb + t][d]; zero the tail columns.
        for (long t = 0; t < nk; t++) {
            const float *kr = kbase + (kb + t) * a->kv_row_stride;
            for (long d = 0; d < hd; d++) kt[d * BK + t] = kr[d];
        }
        for (long t = nk; t < BK; t++)
            for (long d = 0; d < hd; d++) kt[d * BK + t] = 0;

        for (long g0 = 0; g0 < nrows; g0 += RG) {
            long nr = nrows - g0 < RG ? nrows - g0 : RG;
            // Rows whose visible keys all lie before this block contribute nothing here.
            long active = 0;
            for (long rr = 0; rr < nr; rr++) active |= limit[g0 + rr] > kb;
            if (!active) continue;
            // 2. Scores for nr rows × 64 keys.
            __m512 s[RG][4];
            for (long rr = 0; rr < RG; rr++)
                for (int c = 0; c < 4; c++) s[rr][c] = _mm512_setzero_ps();
            for (long d = 0; d < hd; d++) {
                __m512 k0 = _mm512_loadu_ps(kt + d * BK), k1 = _mm512_loadu_ps(kt + d * BK + 16);
                __m512 k2 = _mm512_loadu_ps(kt + d * BK + 32), k3 = _mm512_loadu_ps(kt + d * BK + 48);
                for (long rr = 0; rr < RG; rr++) {
                    if (rr >= nr) break;
                    __m512 qv = _mm512_set1_ps(qs[(g0 + rr) * hd + d]);
                    s[rr][0] = _mm512_fmadd_ps(qv, k0, s[rr][0]);
                    s[rr][1] = _mm512_fmadd_ps(qv, k1, s[rr][1]);
                    s[rr][2] = _mm512_fmadd_ps(qv, k2, s[rr][2]);
                    s[rr][3] = _mm512_fmadd_ps(qv, k3, s[rr][3]);
                }
            }
            // 3. Masks and online softmax, row by row.
            for (long rr = 0; rr < nr; rr++) {
                long r = g0 + rr;
                long visible = limit[r] - kb;
                if (visible > nk) visible = nk;
                if (visible <= 0) {
                    memset(pbuf + rr * BK, 0, sizeof(float) * BK);
                    continue;
                }
                __mmask16 mk[4];
                for (int c = 0; c < 4; c++) {
                    long n = visible - c * 16;
                    mk[c] = n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
                }
                __m512 ninf = _mm512_set1_ps(-INFINITY);
                __m512 bm = ninf;
                for (int c = 0; c < 4; c++) bm = _mm512_max_ps(bm, _mm512_mask_mov_ps(ninf, mk[c], s[rr][c]));
                float block_max = _mm512_reduce_max_ps(bm);
                float m_new = m[r] > block_max ? m[r] : block_max;
                float alpha = m[r] == -INFINITY ? 0.0f : expf(m[r] - m_new);
                __m512 vm = _mm512_set1_ps(m_new);
                __m512 sum = _mm512_setzero_ps();
                for (int c = 0; c < 4; c++) {
                    __m512 p = _mm512_maskz_mov_ps(mk[c], vk_exp512(_mm512_sub_ps(s[rr][c], vm)));
                    _mm512_storeu_ps(pbuf + rr * BK + c * 16, p);
                    sum = _mm512_add_ps(sum, p);
                }
                l[r] = l[r] * alpha + _mm512_reduce_add_ps(sum);
                m[r] = m_new;
                if (alpha != 1.0f) {
                    __m512 va = _mm512_set1_ps(alpha);
                    for (long c = 0; c < hd; c += 16)
                        _mm512_storeu_ps(o + r * hd + c, _mm512_mul_ps(_mm512_loadu_ps(o + r * hd + c), va));
                }
            }
            // 4. O += P · V for this block (accumulators for nr rows × hd in registers).
            __m512 acc[RG][8];
            for (long rr = 0; rr < nr; rr++)
                for (int c = 0; c < hv; c++) acc[rr][c] = _mm512_loadu_ps(o + (g0 + rr) * hd + c * 16);
            for (long t = 0; t < nk; t++) {
                const float *vr = vbase + (kb + t) * a->kv_row_stride;
                __m512 vv[8];
                for (int c = 0; c < hv; c++) vv[c] = _mm512_loadu_ps(vr + c * 16);
                for (long rr = 0; rr < RG; rr++) {
                    if (rr >= nr) break;
                    __m512 p = _mm512_set1_ps(pbuf[rr * BK + t]);
                    for (int c = 0; c < hv; c++) acc[rr][c] = _mm512_fmadd_ps(p, vv[c], acc[rr][c]);
                }
            }
            for (long rr = 0; rr < nr; rr++)
                for (int c = 0; c < hv; c++) _mm512_storeu_ps(o + (g0 + rr) * hd + c * 16, acc[rr][c]);
        }
    }
    // Normalise and write out.
    for (long r = 0; r < nrows; r++) {
        long row = r0 + r;
        long i = row / group, h = j * group + row % group;
        float *dst = a->out + i * a->out_stride + h * hd;
        __m512 inv = _mm512_set1_ps(l[r] > 0 ? 1.0f / l[r] : 0.0f);
        for (long c = 0; c < hd; c += 16) _mm512_storeu_ps(dst + c, _mm512_mul_ps(_mm512_loadu_ps(o + r * hd + c), inv));
    }
}

VK_AVX512 static void fa_tasks(void *p, long begin, long end) {
    const struct fa_args *a = p;
    float *scratch = a->scratch + (long)omp_get_thread_num() * vk_flash_scratch_floats(a->head_dim);
    for (long task = begin; task < end; task++) {
        // Specialise the value loop on Hd/16 so its accumulators stay in registers.
        switch (a->head_dim / 16) {
        case 1: fa_task(a, task, scratch, 1); break;
        case 2: fa_task(a, task, scratch, 2); break;
        case 3: fa_task(a, task, scratch, 3); break;
        case 4: fa_task(a, task, scratch, 4); break;
        case 5: fa_task(a, task, scratch, 5); break;
        case 6: fa_task(a, task, scratch, 6); break;
        case 7: fa_task(a, task, scratch, 7); break;
        default: fa_task(a, task, scratch, 8); break;
        }
    }
}

/// True when the flash kernel can run: AVX-512 present and Hd a multiple of 16, at most 128.
int vk_flash_supported(long head_dim) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && head_dim % 16 == 0 &&
           head_dim <= 128 && head_dim > 0;
}

void vk_flash_attention(const float *q, long q_stride, const float *k, const float *v, long kv_head_stride,
                        long kv_row_stride, float *out, long out_stride, long tq, long tk, long heads, long kv_heads,
                        long head_dim, float scale, long causal_offset, float *scratch) {
    long group = heads / kv_heads;
    long tasks_per_head = (tq * group + SB - 1) / SB;
    struct fa_args a = {q,  k,     v,        out,      scratch,       q_stride, kv_head_stride, kv_row_stride,
                        out_stride, tq, tk, heads, kv_heads, head_dim, causal_offset, scale, tasks_per_head};
    long tasks = tasks_per_head * kv_heads;
    if (tq * heads * tk * head_dim < 65536) fa_tasks(&a, 0, tasks);
    else vk_parallel_for(tasks, fa_tasks, &a);
}
