// AVX-512 vector maths shared by the kernels compiled for that instruction set (included, not a public header).
#ifndef VIGIL_VECMATH_AVX512_H
#define VIGIL_VECMATH_AVX512_H
#include <immintrin.h>

#define VK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

/// e^x for 16 floats, ≈1–2 ulp: x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for e^r, scaled by 2^n.
/// Inputs below −87.3 give 0 (flush), above 88.7 give +inf.
VK_AVX512 static inline __m512 vk_exp512(__m512 x) {
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f);
    const __m512 ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3365f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.7228f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
    r = _mm512_fnmadd_ps(n, ln2_lo, r);
    // Taylor/minimax coefficients of e^r on [−ln2/2, ln2/2] (Cephes expf).
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 r2 = _mm512_mul_ps(r, r);
    p = _mm512_fmadd_ps(p, r2, r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/// tanh(x) = 1 − 2 / (e^(2x) + 1), saturating cleanly at ±1.
VK_AVX512 static inline __m512 vk_tanh512(__m512 x) {
    __m512 e = vk_exp512(_mm512_add_ps(x, x));
    __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
}

#endif
