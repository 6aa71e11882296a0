// AVX-512 versions of the elementwise kernels whose scalar form is dominated by libm calls (tanhf, expf).
// Selected at run time by kernels.c when the CPU has AVX-512.
#include "ckernels.h"
#include "vecmath_avx512.h"

#include <math.h>

VK_AVX512 void vk_gelu_tanh_avx512(float *x, long n) {
    const __m512 k = _mm512_set1_ps(0.7978845608028654f), c = _mm512_set1_ps(0.044715f), half = _mm512_set1_ps(0.5f);
    const __m512 one = _mm512_set1_ps(1.0f);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 inner = _mm512_mul_ps(k, _mm512_fmadd_ps(_mm512_mul_ps(c, v), _mm512_mul_ps(v, v), v));
        __m512 t = vk_tanh512(inner);
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, t)));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 inner = _mm512_mul_ps(k, _mm512_fmadd_ps(_mm512_mul_ps(c, v), _mm512_mul_ps(v, v), v));
        __m512 t = vk_tanh512(inner);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, t)));
    }
}

VK_AVX512 void vk_silu_mul_avx512(const float *gate, const float *up, long in_stride, float *out, long out_stride,
                                  long rows, long cols) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (long r = 0; r < rows; r++) {
        const float *g = gate + r * in_stride, *u = up + r * in_stride;
        float *o = out + r * out_stride;
        for (long i = 0; i < cols; i += 16) {
            __mmask16 m = cols - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cols - i)) - 1);
            __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
            __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, vk_exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
            _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(_mm512_mul_ps(gv, sig), _mm512_maskz_loadu_ps(m, u + i)));
        }
    }
}
