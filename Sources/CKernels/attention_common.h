// Pieces the two flash attention kernels (fp32 and bf16) share (included, not a public header).
#ifndef VIGIL_ATTENTION_COMMON_H
#define VIGIL_ATTENTION_COMMON_H
#include "vecmath_avx512.h"

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

/// Keys visible to query i: all Tk, or 0 … i + causal_offset when causal (causal_offset ≥ 0).
static inline long fa_visible_keys(long i, long tk, long causal_offset) {
    return causal_offset >= 0 && i + causal_offset + 1 < tk ? i + causal_offset + 1 : tk;
}

#endif
