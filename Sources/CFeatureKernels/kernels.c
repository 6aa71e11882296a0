// The feature memory's kernels (contracts in include/cfeaturekernels.h). Plain loops the compiler vectorises per
// clone, except fp16 conversion (F16C when the CPU has it, else exact bit manipulation) and CRC-32C (SSE4.2, else
// bitwise). No fused multiply-add anywhere (-ffp-contract=off in Package.swift): the same bits on every CPU.
#include "cfeaturekernels.h"

#include <math.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VFM_SANITIZED 1  // TSan instruments ifunc resolvers, which run before its runtime exists: no clones
#endif
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__x86_64__) && !defined(VFM_SANITIZED)
#define VFM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VFM_CLONES
#endif

#define VFM_LANES 16
#define VFM_HALF_MAX 65504.0f

// MARK: - fp16

static inline uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/// float → half, round to nearest even (F. Giesen's float_to_half_fast3_rtne); the caller has saturated.
static inline uint16_t half_from_float(float value) {
    uint32_t x = bits_of(value);
    uint32_t sign = x & 0x80000000u;
    x ^= sign;
    uint16_t out;
    if (x >= 0x47800000u) {  // ≥ 65536 (only Inf or NaN here): all exponent bits set
        out = (x > 0x7f800000u) ? (uint16_t)(0x7e00u | ((x >> 13) & 0x3ffu)) : 0x7c00u;
    } else if (x < 0x38800000u) {  // below 2⁻¹⁴: a subnormal half or zero; the FPU's RNE does the rounding
        float f = float_of(x) + float_of(126u << 23);
        out = (uint16_t)(bits_of(f) - (126u << 23));
    } else {
        uint32_t odd = (x >> 13) & 1u;
        x += ((uint32_t)(15 - 127) << 23) + 0xfffu;  // rebias the exponent, rounding bias part 1
        x += odd;                                    // part 2: ties to even
        out = (uint16_t)(x >> 13);
    }
    return (uint16_t)(out | (sign >> 16));
}

/// half → float (exact).
static inline float float_from_half(uint16_t h) {
    const float magic = float_of(113u << 23);
    const uint32_t shifted_exp = 0x7c00u << 13;
    uint32_t o = ((uint32_t)h & 0x7fffu) << 13;
    uint32_t exp = shifted_exp & o;
    o += (uint32_t)(127 - 15) << 23;
    if (exp == shifted_exp) {
        o += (uint32_t)(128 - 16) << 23;  // Inf/NaN
    } else if (exp == 0) {
        o += 1u << 23;  // zero or subnormal: renormalise
        o = bits_of(float_of(o) - magic);
    }
    o |= ((uint32_t)h & 0x8000u) << 16;
    return float_of(o);
}

static inline float saturate(float v) {
    if (v > VFM_HALF_MAX) return VFM_HALF_MAX;
    if (v < -VFM_HALF_MAX) return -VFM_HALF_MAX;
    return v;  // NaN falls through
}

#if defined(__x86_64__)
static int has_f16c(void) {
    // Racing first calls compute the same value; atomics keep that well-defined (and Thread Sanitizer quiet).
    static int cached = -1;
    int value = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (value < 0) {
        __builtin_cpu_init();
        value = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
        __atomic_store_n(&cached, value, __ATOMIC_RELAXED);
    }
    return value;
}

__attribute__((target("avx2,f16c"))) static void f32_to_f16_f16c(const float *x, uint16_t *y, long n) {
    const __m256 hi = _mm256_set1_ps(VFM_HALF_MAX);
    const __m256 lo = _mm256_set1_ps(-VFM_HALF_MAX);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        // min/max return their second operand when one is NaN: NaN stays NaN.
        __m256 v = _mm256_max_ps(lo, _mm256_min_ps(hi, _mm256_loadu_ps(x + i)));
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < n; i++) y[i] = half_from_float(saturate(x[i]));
}

__attribute__((target("avx2,f16c"))) static void f16_to_f32_f16c(const uint16_t *x, float *y, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++) y[i] = float_from_half(x[i]);
}
#endif

void vfm_f32_to_f16(const float *x, uint16_t *y, long n) {
#if defined(__x86_64__)
    if (has_f16c()) {
        f32_to_f16_f16c(x, y, n);
        return;
    }
#endif
    for (long i = 0; i < n; i++) y[i] = half_from_float(saturate(x[i]));
}

void vfm_f16_to_f32(const uint16_t *x, float *y, long n) {
#if defined(__x86_64__)
    if (has_f16c()) {
        f16_to_f32_f16c(x, y, n);
        return;
    }
#endif
    for (long i = 0; i < n; i++) y[i] = float_from_half(x[i]);
}

VFM_CLONES int vfm_all_finite(const float *x, long n) {
    // An exponent of all ones marks Inf and NaN.
    uint32_t bad = 0;
    for (long i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        bad |= ((u & 0x7f800000u) == 0x7f800000u);
    }
    return bad == 0;
}

// MARK: - Reductions and elementwise

static inline float reduce_lanes(float *acc) {
    for (int width = VFM_LANES / 2; width > 0; width /= 2)
        for (int l = 0; l < width; l++) acc[l] += acc[l + width];
    return acc[0];
}

VFM_CLONES float vfm_dot(const float *a, const float *b, long n) {
    float acc[VFM_LANES] = {0};
    long i = 0;
    for (; i + VFM_LANES <= n; i += VFM_LANES)
        for (int l = 0; l < VFM_LANES; l++) acc[l] += a[i + l] * b[i + l];
    for (int l = 0; i < n; i++, l++) acc[l] += a[i] * b[i];
    return reduce_lanes(acc);
}

VFM_CLONES float vfm_squared_distance(const float *a, const float *b, long n) {
    float acc[VFM_LANES] = {0};
    long i = 0;
    for (; i + VFM_LANES <= n; i += VFM_LANES)
        for (int l = 0; l < VFM_LANES; l++) {
            float d = a[i + l] - b[i + l];
            acc[l] += d * d;
        }
    for (int l = 0; i < n; i++, l++) {
        float d = a[i] - b[i];
        acc[l] += d * d;
    }
    return reduce_lanes(acc);
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c"))) static float squared_distance_f16_f16c(const uint16_t *a, const float *b,
                                                                            long n) {
    // Lanes 0–7 and 8–15 of vfm_squared_distance in two registers: each lane sums the same terms in the same order.
    __m256 low = _mm256_setzero_ps();
    __m256 high = _mm256_setzero_ps();
    long i = 0;
    for (; i + VFM_LANES <= n; i += VFM_LANES) {
        __m256 d0 = _mm256_sub_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8))),
                                  _mm256_loadu_ps(b + i + 8));
        low = _mm256_add_ps(low, _mm256_mul_ps(d0, d0));
        high = _mm256_add_ps(high, _mm256_mul_ps(d1, d1));
    }
    float acc[VFM_LANES];
    _mm256_storeu_ps(acc, low);
    _mm256_storeu_ps(acc + 8, high);
    for (int l = 0; i < n; i++, l++) {
        float d = float_from_half(a[i]) - b[i];
        acc[l] += d * d;
    }
    return reduce_lanes(acc);
}
#endif

float vfm_squared_distance_f16(const uint16_t *a, const float *b, long n) {
#if defined(__x86_64__)
    if (has_f16c()) return squared_distance_f16_f16c(a, b, n);
#endif
    float acc[VFM_LANES] = {0};
    long i = 0;
    for (; i + VFM_LANES <= n; i += VFM_LANES)
        for (int l = 0; l < VFM_LANES; l++) {
            float d = float_from_half(a[i + l]) - b[i + l];
            acc[l] += d * d;
        }
    for (int l = 0; i < n; i++, l++) {
        float d = float_from_half(a[i]) - b[i];
        acc[l] += d * d;
    }
    return reduce_lanes(acc);
}

VFM_CLONES void vfm_add(float *acc, const float *x, long n) {
    for (long i = 0; i < n; i++) acc[i] += x[i];
}

VFM_CLONES void vfm_divide(const float *x, float d, float *y, long n) {
    for (long i = 0; i < n; i++) y[i] = x[i] / d;
}

VFM_CLONES void vfm_axpy_f64(double *y, double a, const float *x, long n) {
    for (long i = 0; i < n; i++) y[i] += a * (double)x[i];
}

VFM_CLONES void vfm_f64_to_f32(const double *x, float *y, long n) {
    for (long i = 0; i < n; i++) y[i] = (float)x[i];
}

VFM_CLONES void vfm_dot_rows(const float *rows, long count, long dim, long stride, const float *q, float *out) {
    for (long r = 0; r < count; r++) {
        const float *row = rows + r * stride;
        float acc[VFM_LANES] = {0};
        long i = 0;
        for (; i + VFM_LANES <= dim; i += VFM_LANES)
            for (int l = 0; l < VFM_LANES; l++) acc[l] += row[i + l] * q[i + l];
        for (int l = 0; i < dim; i++, l++) acc[l] += row[i] * q[i];
        out[r] = reduce_lanes(acc);
    }
}

// MARK: - Keys

VFM_CLONES void vfm_pool_key(const float *tokens, long side, long hidden, float *key) {
    long key_side = (side + 1) / 2;
    for (long kr = 0; kr < key_side; kr++) {
        for (long kc = 0; kc < key_side; kc++) {
            float *out = key + (kr * key_side + kc) * hidden;
            long rows = (2 * kr + 1 < side) ? 2 : 1;
            long cols = (2 * kc + 1 < side) ? 2 : 1;
            const float *first = tokens + ((2 * kr) * side + 2 * kc) * hidden;
            memcpy(out, first, (size_t)hidden * sizeof(float));
            for (long dr = 0; dr < rows; dr++) {
                for (long dc = 0; dc < cols; dc++) {
                    if (dr == 0 && dc == 0) continue;
                    const float *t = tokens + ((2 * kr + dr) * side + 2 * kc + dc) * hidden;
                    for (long h = 0; h < hidden; h++) out[h] += t[h];
                }
            }
            float count = (float)(rows * cols);
            for (long h = 0; h < hidden; h++) out[h] /= count;
        }
    }
}

VFM_CLONES void vfm_mean_rows(const float *x, long rows, long dim, float *out) {
    memcpy(out, x, (size_t)dim * sizeof(float));
    for (long r = 1; r < rows; r++) {
        const float *row = x + r * dim;
        for (long h = 0; h < dim; h++) out[h] += row[h];
    }
    float count = (float)rows;
    for (long h = 0; h < dim; h++) out[h] /= count;
}

// MARK: - CRC-32C

static uint32_t crc32c_bitwise(uint32_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = ~crc;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, p + i, 8);
        c = _mm_crc32_u64(c, word);
    }
    uint32_t c32 = (uint32_t)c;
    for (; i < n; i++) c32 = _mm_crc32_u8(c32, p[i]);
    return ~c32;
}
#endif

uint32_t vfm_crc32c(uint32_t crc, const void *data, size_t n) {
#if defined(__x86_64__)
    static int cached = -1;
    int sse42 = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (sse42 < 0) {
        __builtin_cpu_init();
        sse42 = __builtin_cpu_supports("sse4.2");
        __atomic_store_n(&cached, sse42, __ATOMIC_RELAXED);
    }
    if (sse42) return crc32c_sse42(crc, (const unsigned char *)data, n);
#endif
    return crc32c_bitwise(crc, (const unsigned char *)data, n);
}
