// Pieces the two flash attention kernels (fp32 and bf16) share (included, not a public header).
#ifndef VIGIL_ATTENTION_COMMON_H
#define VIGIL_ATTENTION_COMMON_H
#include "vecmath_avx512.h"

#include <math.h>

/// Writes rows r0 ..< r0 + nrows of one GQA group (KV head j) as out = o / l: row `row` is query i = row / group of
/// head j·group + row % group.
VK_AVX512 static inline void fa_write_rows(const float *o, const float *l, long r0, long nrows, long group, long j,
                                           long hd, float *out, long out_stride) {
    for (long r = 0; r < nrows; r++) {
        long row = r0 + r;
        long i = row / group, h = j * group + row % group;
        float *dst = out + i * out_stride + h * hd;
        __m512 inv = _mm512_set1_ps(l[r] > 0 ? 1.0f / l[r] : 0.0f);
        for (long c = 0; c < hd; c += 16) _mm512_storeu_ps(dst + c, _mm512_mul_ps(_mm512_loadu_ps(o + r * hd + c), inv));
    }
}

/// One step of the online softmax for one query row over a block of 64 scores s[4], of which the first `visible`
/// are real (0 < visible ≤ 64): updates the row's running max *m and sum *l, rescales its output o[Hd] when the max
/// grows, and returns the block's unnormalised probabilities e^(s − m) in p[4] (0 past `visible`).
VK_AVX512 static inline void fa_softmax_block(const __m512 s[4], long visible, float *m, float *l, float *o, long hd,
                                              __m512 p[4]) {
    __mmask16 mk[4];
    for (int c = 0; c < 4; c++) {
        long n = visible - c * 16;
        mk[c] = n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
    }
    __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 bm = ninf;
    for (int c = 0; c < 4; c++) bm = _mm512_max_ps(bm, _mm512_mask_mov_ps(ninf, mk[c], s[c]));
    float block_max = _mm512_reduce_max_ps(bm);
    float m_new = *m > block_max ? *m : block_max;
    float alpha = *m == -INFINITY ? 0.0f : expf(*m - m_new);
    __m512 vm = _mm512_set1_ps(m_new);
    __m512 sum = _mm512_setzero_ps();
    for (int c = 0; c < 4; c++) {
        p[c] = _mm512_maskz_mov_ps(mk[c], vk_exp512(_mm512_sub_ps(s[c], vm)));
        sum = _mm512_add_ps(sum, p[c]);
    }
    *l = *l * alpha + _mm512_reduce_add_ps(sum);
    *m = m_new;
    if (alpha != 1.0f) {
        __m512 va = _mm512_set1_ps(alpha);
        for (long c = 0; c < hd; c += 16) _mm512_storeu_ps(o + c, _mm512_mul_ps(_mm512_loadu_ps(o + c), va));
    }
}

/// Keys visible to query i: all Tk, or 0 … i + causal_offset when causal (causal_offset ≥ 0).
static inline long fa_visible_keys(long i, long tk, long causal_offset) {
    return causal_offset >= 0 && i + causal_offset + 1 < tk ? i + causal_offset + 1 : tk;
}

#endif
