// The feature memory's hot loops (Memory target, Sources/Memory/Feature): fp16 conversion, reductions, the 2×2 key
// pooling, row scores and CRC-32C. In C so they are optimised even in debug builds (see Package.swift) and
// vectorised for the running CPU (function multi-versioning: AVX-512, AVX2, baseline). Only `Memory` imports this.
//
// Determinism: every reduction uses 16 fixed lanes combined in a fixed order and the target is built with
// -ffp-contract=off, so results are bit-identical on every x86-64 level (a restored synopsis continues exactly).
//
// Shape legend: T tokens, H hidden values per token, S grid side (T = S·S), Kt key tokens (= ceil(S/2)²).
#ifndef VIGIL_CFEATUREKERNELS_H
#define VIGIL_CFEATUREKERNELS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// y = fp16(x), round to nearest even; finite values beyond ±65504 saturate to ±65504, NaN stays NaN.
void vfm_f32_to_f16(const float *x, uint16_t *y, long n);
/// y = f32(x) (exact).
void vfm_f16_to_f32(const uint16_t *x, float *y, long n);
/// 1 when every x[i] is finite, else 0.
int vfm_all_finite(const float *x, long n);

/// Σ a[i]·b[i] (16 lanes).
float vfm_dot(const float *a, const float *b, long n);
/// Σ (a[i] − b[i])² (16 lanes).
float vfm_squared_distance(const float *a, const float *b, long n);
/// Σ (f32(a[i]) − b[i])² for fp16 `a`: the same bits as widening `a` and calling vfm_squared_distance.
float vfm_squared_distance_f16(const uint16_t *a, const float *b, long n);
/// acc[i] += x[i].
void vfm_add(float *acc, const float *x, long n);
/// y[i] = x[i] / d.
void vfm_divide(const float *x, float d, float *y, long n);
/// y[i] += a · x[i], in double.
void vfm_axpy_f64(double *y, double a, const float *x, long n);
/// y[i] = (float)x[i].
void vfm_f64_to_f32(const double *x, float *y, long n);

/// out[r] = rows[r·stride …] · q for r < count (dot over `dim` values; rows `stride` floats apart).
void vfm_dot_rows(const float *rows, long count, long dim, long stride, const float *q, float *out);

/// Cluster key: 2×2 average pool of a [S, S, H] token grid (row-major tokens of H values) into [ceil(S/2)², H].
/// An odd side leaves a ragged last row/column of windows that average the 2 (or 1) tokens they cover. Each
/// output value is ((t00 + t01) + t10) + t11 over the window's tokens in row-major order, then divided by their
/// count (1, 2 or 4: exact), summed in float.
void vfm_pool_key(const float *tokens, long side, long hidden, float *key);
/// out[h] = (Σ_t x[t·dim + h]) / rows, tokens summed in order, in float.
void vfm_mean_rows(const float *x, long rows, long dim, float *out);

/// CRC-32C (Castagnoli) of n bytes, continuing from `crc` (start with 0). SSE4.2 when the CPU has it.
uint32_t vfm_crc32c(uint32_t crc, const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif
