// Flash-style attention for AVX-512 CPUs (see vk_attention in include/ckernels.h for the contract).
//
// Nothing of size Tq×Tk is ever materialised. First every KV head's keys are transposed once into Kt [Hd, Tk']
// (Tk' = Tk rounded up to BK, zero-padded), so that 16 scores come from one FMA per head dimension. Then query rows
// that share a KV head (the GQA group, and every query position) are processed in tasks of up to SB rows; for each
// block of BK keys:
//   1. (the block's columns of Kt);
//   2. scores S = (q·scale)·Kᵀ for RG rows at a time (RG × BK/16 accumulators in registers), masked (causal, tail);
//   3. online softmax: new row max m', p = exp(S − m'), running sum l = l·e^(m − m') + Σp, output O = O·e^(m − m');
//   4. O += p · V for the block, RG rows × Hd/16 accumulators in registers.
// Finally out = O / l. Softmax statistics are fp32 throughout.
#include "ckernels.h"
#include "attention_common.h"

#include <math.h>
#include <string.h>

extern int omp_get_thread_num(void);

#define BK 64  // keys per block
#define SB 32  // query rows per task
#define RG 4   // query rows per register group

struct fa_args {
    const float *q;
    const void *k, *v;  // f32, or bf16 when kv_bf16
    float *out, *scratch, *kt_all;
    long q_stride, kv_head_stride, kv_row_stride, out_stride;
    long tq, tk, heads, kv_heads, head_dim, causal_offset;
    float scale;
    long tasks_per_head, tk_padded;
    int kv_bf16;
};

/// 16 values of a K or V row (f32, or bf16 widened).
VK_AVX512 static inline __m512 fa_load16(const void *base, long i, int bf16) {
    if (bf16)
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + i))), 16));
    return _mm512_loadu_ps((const float *)base + i);
}

static inline float fa_value(const void *base, long i, int bf16) {
    if (bf16) {
        uint32_t bits = (uint32_t)((const uint16_t *)base)[i] << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    return ((const float *)base)[i];
}

/// Per-thread scratch floats the kernel needs.
long vk_flash_scratch_floats(long head_dim) { return SB * head_dim * 2 + RG * BK + 4 * SB + 64; }

long vk_flash_shared_floats(long kv_heads, long head_dim, long tk) { return kv_heads * head_dim * ((tk + BK - 1) / BK * BK); }

VK_AVX512 __attribute__((always_inline)) static inline void fa_task(const struct fa_args *a, long task,
                                                                     float *scratch, const int hv) {
    const long hd = a->head_dim;
    const long group = a->heads / a->kv_heads;
    const long j = task / a->tasks_per_head;
    const long rows_total = a->tq * group;
    const long r0 = (task % a->tasks_per_head) * SB;
    const long r1 = r0 + SB < rows_total ? r0 + SB : rows_total;
    const long nrows = r1 - r0;
    const int bf16 = a->kv_bf16;
    const char *vbase = (const char *)a->v + (size_t)(j * a->kv_head_stride) * (bf16 ? 2 : 4);

    const long ktp = a->tk_padded;
    const float *kt_head = a->kt_all + j * hd * ktp;  // [hd, Tk']  this KV head's transposed keys
    float *qs = scratch;              // [SB, hd]  scaled queries
    float *o = qs + SB * hd;          // [SB, hd]  running outputs
    float *pbuf = o + SB * hd;        // [RG, BK]  probabilities of one register group
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
        long lim = fa_visible_keys(i, a->tk, a->causal_offset);
        limit[r] = lim;
        if (lim > max_limit) max_limit = lim;
        m[r] = -INFINITY;
        l[r] = 0;
    }
    memset(o, 0, sizeof(float) * nrows * hd);

    for (long kb = 0; kb < max_limit; kb += BK) {
        long nk = max_limit - kb < BK ? max_limit - kb : BK;
        const float *kt = kt_head + kb;  // columns kb ..< kb + BK of Kt, rows ktp apart

        for (long g0 = 0; g0 < nrows; g0 += RG) {
            long nr = nrows - g0 < RG ? nrows - g0 : RG;
            // Rows whose visible keys all lie before this block contribute nothing here.
            long active = 0;
            for (long rr = 0; rr < nr; rr++) active |= limit[g0 + rr] > kb;
            if (!active) continue;
            // 2. Scores for RG rows × 64 keys (rows past nr repeat the group's first row and are ignored), with
            //    constant loop bounds so the 16 accumulators stay in registers.
            const float *qrow[RG];
            for (int rr = 0; rr < RG; rr++) qrow[rr] = qs + (g0 + (rr < nr ? rr : 0)) * hd;
            __m512 s[RG][4];
            for (int rr = 0; rr < RG; rr++)
                for (int c = 0; c < 4; c++) s[rr][c] = _mm512_setzero_ps();
            for (long d = 0; d < hd; d++) {
                __m512 k0 = _mm512_loadu_ps(kt + d * ktp), k1 = _mm512_loadu_ps(kt + d * ktp + 16);
                __m512 k2 = _mm512_loadu_ps(kt + d * ktp + 32), k3 = _mm512_loadu_ps(kt + d * ktp + 48);
                for (int rr = 0; rr < RG; rr++) {
                    __m512 qv = _mm512_set1_ps(qrow[rr][d]);
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
                __m512 p[4];
                fa_softmax_block(s[rr], visible, &m[r], &l[r], o + r * hd, hd, p);
                for (int c = 0; c < 4; c++) _mm512_storeu_ps(pbuf + rr * BK + c * 16, p[c]);
            }
            // 4. O += P · V for this block (RG rows × Hd accumulators in registers; rows past nr have p = 0).
            for (long rr = nr; rr < RG; rr++) memset(pbuf + rr * BK, 0, sizeof(float) * BK);
            __m512 acc[RG][8];
            for (int rr = 0; rr < RG; rr++)
                for (int c = 0; c < hv; c++)
                    acc[rr][c] = rr < nr ? _mm512_loadu_ps(o + (g0 + rr) * hd + c * 16) : _mm512_setzero_ps();
            for (long t = 0; t < nk; t++) {
                long row = (kb + t) * a->kv_row_stride;
                __m512 vv[8];
                for (int c = 0; c < hv; c++) vv[c] = fa_load16(vbase, row + c * 16, bf16);
                for (int rr = 0; rr < RG; rr++) {
                    __m512 p = _mm512_set1_ps(pbuf[rr * BK + t]);
                    for (int c = 0; c < hv; c++) acc[rr][c] = _mm512_fmadd_ps(p, vv[c], acc[rr][c]);
                }
            }
            for (long rr = 0; rr < nr; rr++)
                for (int c = 0; c < hv; c++) _mm512_storeu_ps(o + (g0 + rr) * hd + c * 16, acc[rr][c]);
        }
    }
    fa_write_rows(o, l, r0, nrows, group, j, hd, a->out, a->out_stride);
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

/// Transposes keys of KV heads × key blocks [begin, end): kt_all[j][d][t] = k[j][t][d], zero past Tk.
VK_AVX512 static void fa_transpose(void *p, long begin, long end) {
    const struct fa_args *a = p;
    const long hd = a->head_dim, ktp = a->tk_padded, blocks = ktp / BK;
    for (long task = begin; task < end; task++) {
        long j = task / blocks, kb = (task % blocks) * BK;
        const char *k = (const char *)a->k + (size_t)(j * a->kv_head_stride) * (a->kv_bf16 ? 2 : 4);
        float *kt = a->kt_all + j * hd * ktp;
        // 16 keys at a time: gather one dimension of 16 key rows into a vector (strided load via a 16x16 transpose
        // would be faster still; this pass is a few percent of the whole).
        for (long t0 = kb; t0 < kb + BK; t0 += 16) {
            long n = a->tk - t0;
            if (n > 16) n = 16;
            for (long d = 0; d < hd; d++) {
                float col[16];
                for (long i = 0; i < 16; i++) col[i] = i < n ? fa_value(k, (t0 + i) * a->kv_row_stride + d, a->kv_bf16) : 0.0f;
                _mm512_storeu_ps(kt + d * ktp + t0, _mm512_loadu_ps(col));
            }
        }
    }
}

/// True when the flash kernel can run: AVX-512 present and Hd a multiple of 16, at most 128.
int vk_flash_supported(long head_dim) {
    return vk_cpu_has_avx512() && head_dim % 16 == 0 && head_dim <= 128 && head_dim > 0;
}

void vk_flash_attention(const float *q, long q_stride, const void *k, const void *v, int kv_bf16, long kv_head_stride,
                        long kv_row_stride, float *out, long out_stride, long tq, long tk, long heads, long kv_heads,
                        long head_dim, float scale, long causal_offset, float *scratch, float *shared) {
    long group = heads / kv_heads;
    long tasks_per_head = (tq * group + SB - 1) / SB;
    long tk_padded = (tk + BK - 1) / BK * BK;
    struct fa_args a = {q,          k,  v,  out,   scratch,  shared,   q_stride,      kv_head_stride, kv_row_stride,
                        out_stride, tq, tk, heads, kv_heads, head_dim, causal_offset, scale,          tasks_per_head,
                        tk_padded,  kv_bf16};
    long tasks = tasks_per_head * kv_heads;
    long blocks = kv_heads * (tk_padded / BK);
    int small = tq * heads * tk * head_dim < 65536;
    if (small) fa_transpose(&a, 0, blocks);
    else vk_parallel_for(blocks, fa_transpose, &a);
    if (small) fa_tasks(&a, 0, tasks);
    else vk_parallel_for(tasks, fa_tasks, &a);
}
