// Vigil's C kernels: norms, activations, RoPE, attention and layout helpers (see include/ckernels.h).
// Every public function is compiled three times (AVX-512, AVX2+FMA, baseline x86-64) and picked at load time by the
// CPU, so one binary runs everywhere and uses the widest vectors it finds. Reductions opt into reassociation
// (`#pragma clang fp reassociate`) so they vectorise; results differ from a strict left-to-right sum only by
// rounding, well inside the 1e-4 parity budget.
#include "ckernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#define VK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VK_CLONES
#endif

// MARK: - Threads

// libgomp's entry points (the runtime Debian's oneDNN is built with). Declared here because Swift's clang ships no
// omp.h; calling the runtime directly keeps one OpenMP runtime and one thread pool in the process.
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
extern int omp_get_max_threads(void);
extern void omp_set_num_threads(int);
extern int omp_in_parallel(void);

void vk_set_threads(int count) { omp_set_num_threads(count < 1 ? 1 : count); }

int vk_threads(void) { return omp_get_max_threads(); }

struct vk_parallel_args {
    long count;
    void (*body)(void *, long, long);
    void *context;
};

static void vk_parallel_thunk(void *p) {
    const struct vk_parallel_args *a = p;
    long n = omp_get_num_threads();
    long t = omp_get_thread_num();
    long chunk = (a->count + n - 1) / n;
    long begin = t * chunk;
    long end = begin + chunk < a->count ? begin + chunk : a->count;
    if (begin < end) a->body(a->context, begin, end);
}

void vk_parallel_for(long count, void (*body)(void *context, long begin, long end), void *context) {
    if (count <= 0) return;
    long threads = omp_get_max_threads();
    if (threads <= 1 || count == 1 || omp_in_parallel()) {
        body(context, 0, count);
        return;
    }
    struct vk_parallel_args args = {count, body, context};
    GOMP_parallel(vk_parallel_thunk, &args, (unsigned)(threads < count ? threads : count), 0);
}

// MARK: - Small vector helpers (inlined into each clone)

static inline float vk_dot(const float *a, const float *b, long n) {
#pragma clang fp reassociate(on)
    float s = 0;
    for (long i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline float vk_sum(const float *a, long n) {
#pragma clang fp reassociate(on)
    float s = 0;
    for (long i = 0; i < n; i++) s += a[i];
    return s;
}

static inline void vk_axpy(float alpha, const float *x, float *y, long n) {
    for (long i = 0; i < n; i++) y[i] += alpha * x[i];
}

// MARK: - Norms

struct vk_norm_args {
    const float *x, *w, *b;
    float *y;
    long dim;
    float eps;
};

VK_CLONES static void vk_layer_norm_rows(void *p, long begin, long end) {
    const struct vk_norm_args *a = p;
    long dim = a->dim;
    for (long r = begin; r < end; r++) {
        const float *x = a->x + r * dim;
        float *y = a->y + r * dim;
        float mean = vk_sum(x, dim) / (float)dim;
        float var;
        {
#pragma clang fp reassociate(on)
            float s = 0;
            for (long i = 0; i < dim; i++) s += (x[i] - mean) * (x[i] - mean);
            var = s / (float)dim;
        }
        float inv = 1.0f / sqrtf(var + a->eps);
        if (a->b) {
            for (long i = 0; i < dim; i++) y[i] = (x[i] - mean) * inv * a->w[i] + a->b[i];
        } else {
            for (long i = 0; i < dim; i++) y[i] = (x[i] - mean) * inv * a->w[i];
        }
    }
}

void vk_layer_norm(const float *x, const float *w, const float *b, float *y, long rows, long dim, float eps) {
    struct vk_norm_args a = {x, w, b, y, dim, eps};
    if (rows * dim < 16384) vk_layer_norm_rows(&a, 0, rows);
    else vk_parallel_for(rows, vk_layer_norm_rows, &a);
}

VK_CLONES static void vk_rms_norm_rows(void *p, long begin, long end) {
    const struct vk_norm_args *a = p;
    long dim = a->dim;
    for (long r = begin; r < end; r++) {
        const float *x = a->x + r * dim;
        float *y = a->y + r * dim;
        float ms = vk_dot(x, x, dim) / (float)dim;
        float inv = 1.0f / sqrtf(ms + a->eps);
        for (long i = 0; i < dim; i++) y[i] = a->w[i] * (x[i] * inv);
    }
}

void vk_rms_norm(const float *x, const float *w, float *y, long rows, long dim, float eps) {
    struct vk_norm_args a = {x, w, NULL, y, dim, eps};
    if (rows * dim < 16384) vk_rms_norm_rows(&a, 0, rows);
    else vk_parallel_for(rows, vk_rms_norm_rows, &a);
}

VK_CLONES void vk_softmax_rows(float *x, long rows, long cols) {
    for (long r = 0; r < rows; r++) {
        float *row = x + r * cols;
        float max = -INFINITY;
        for (long i = 0; i < cols; i++) max = row[i] > max ? row[i] : max;
        float sum = 0;
        for (long i = 0; i < cols; i++) {
            row[i] = expf(row[i] - max);
            sum += row[i];
        }
        float inv = 1.0f / sum;
        for (long i = 0; i < cols; i++) row[i] *= inv;
    }
}

// MARK: - Elementwise

void vk_gelu_tanh_avx512(float *x, long n);
void vk_silu_mul_avx512(const float *gate, const float *up, long in_stride, float *out, long out_stride, long rows,
                        long cols);

int vk_cpu_has_avx512(void) {
#if defined(__x86_64__)
    // What VK_AVX512 code is compiled for (avx512f, bw, dq, vl: the x86-64-v4 level).
    __builtin_cpu_init();
    return __builtin_cpu_supports("x86-64-v4");
#else
    return 0;
#endif
}

VK_CLONES static void vk_gelu_tanh_generic(float *x, long n) {
    const float k = 0.7978845608028654f;  // √(2/π)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

struct vk_gelu_args {
    float *x;
    long n;
};

static void vk_gelu_chunk(void *p, long begin, long end) {
    const struct vk_gelu_args *a = p;
    long lo = begin * 4096, hi = end * 4096 < a->n ? end * 4096 : a->n;
    if (vk_cpu_has_avx512()) vk_gelu_tanh_avx512(a->x + lo, hi - lo);
    else vk_gelu_tanh_generic(a->x + lo, hi - lo);
}

void vk_gelu_tanh(float *x, long n) {
    struct vk_gelu_args a = {x, n};
    long chunks = (n + 4095) / 4096;
    if (chunks < 4) vk_gelu_chunk(&a, 0, chunks);
    else vk_parallel_for(chunks, vk_gelu_chunk, &a);
}

VK_CLONES static void vk_silu_mul_generic(const float *gate, const float *up, long in_stride, float *out,
                                          long out_stride, long rows, long cols) {
    for (long r = 0; r < rows; r++) {
        const float *g = gate + r * in_stride;
        const float *u = up + r * in_stride;
        float *o = out + r * out_stride;
        for (long i = 0; i < cols; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

void vk_silu_mul(const float *gate, const float *up, long in_stride, float *out, long out_stride, long rows,
                 long cols) {
    if (vk_cpu_has_avx512()) vk_silu_mul_avx512(gate, up, in_stride, out, out_stride, rows, cols);
    else vk_silu_mul_generic(gate, up, in_stride, out, out_stride, rows, cols);
}

VK_CLONES void vk_add(const float *a, const float *b, float *out, long n) {
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// MARK: - RoPE

void vk_rope_tables(float *cos_table, float *sin_table, long positions, long head_dim, double theta) {
    long half = head_dim / 2;
    // Same arithmetic as transformers' Llama rotary embedding: inv_freq = 1 / base^(arange(0, d, 2) / d) in fp32,
    // angle = inv_freq · position as an fp32 product; cos and sin of that fp32 angle.
    for (long i = 0; i < half; i++) {
        float exponent = (float)(2 * i) / (float)head_dim;
        float inv_freq = 1.0f / powf((float)theta, exponent);
        for (long p = 0; p < positions; p++) {
            float angle = (float)p * inv_freq;
            cos_table[p * half + i] = (float)cos((double)angle);
            sin_table[p * half + i] = (float)sin((double)angle);
        }
    }
}

VK_CLONES void vk_rope(float *x, long tokens, long heads, long head_dim, long row_stride, const int32_t *positions,
                       const float *cos_table, const float *sin_table) {
    long half = head_dim / 2;
    for (long t = 0; t < tokens; t++) {
        const float *c = cos_table + (long)positions[t] * half;
        const float *s = sin_table + (long)positions[t] * half;
        for (long h = 0; h < heads; h++) {
            float *x1 = x + t * row_stride + h * head_dim;
            float *x2 = x1 + half;
            for (long i = 0; i < half; i++) {
                float a = x1[i], b = x2[i];
                x1[i] = a * c[i] - b * s[i];
                x2[i] = b * c[i] + a * s[i];
            }
        }
    }
}

// MARK: - Attention

struct vk_attention_args {
    const float *q, *k, *v;
    float *out, *scratch;
    long q_stride, kv_head_stride, kv_row_stride, out_stride;
    long tq, tk, heads, kv_heads, head_dim, causal_offset;
    float scale;
};

VK_CLONES void vk_attend_row(const float *q, const float *k, const float *v, long n, long row_stride, long hd,
                             float scale, float *scores, float *out) {
    // Pass 1: scores and their maximum (subtracted before exp for numerical stability).
    float max = -INFINITY;
    for (long t = 0; t < n; t++) {
        float s = vk_dot(q, k + t * row_stride, hd) * scale;
        scores[t] = s;
        max = s > max ? s : max;
    }
    // Pass 2: exponentials and their sum.
    float sum = 0;
    for (long t = 0; t < n; t++) {
        scores[t] = expf(scores[t] - max);
        sum += scores[t];
    }
    // Pass 3: probability-weighted sum of values.
    memset(out, 0, sizeof(float) * hd);
    float inv = 1.0f / sum;
    for (long t = 0; t < n; t++) vk_axpy(scores[t] * inv, v + t * row_stride, out, hd);
}

static void vk_attention_rows(void *p, long begin, long end) {
    const struct vk_attention_args *a = p;
    long group = a->heads / a->kv_heads;
    long hd = a->head_dim;
    float *scores = a->scratch + (long)omp_get_thread_num() * a->tk;
    for (long idx = begin; idx < end; idx++) {
        long h = idx / a->tq;
        long i = idx % a->tq;
        long kvh = h / group;
        long limit = a->tk;
        if (a->causal_offset >= 0 && i + a->causal_offset + 1 < limit) limit = i + a->causal_offset + 1;
        vk_attend_row(a->q + i * a->q_stride + h * hd, a->k + kvh * a->kv_head_stride,
                      a->v + kvh * a->kv_head_stride, limit, a->kv_row_stride, hd, a->scale, scores,
                      a->out + i * a->out_stride + h * hd);
    }
}

void vk_attention(const float *q, long q_stride, const float *k, const float *v, long kv_head_stride,
                  long kv_row_stride, float *out, long out_stride, long tq, long tk, long heads, long kv_heads,
                  long head_dim, float scale, long causal_offset, float *scratch) {
    struct vk_attention_args a = {q,        k,  v,  out,   scratch,  q_stride, kv_head_stride, kv_row_stride,
                                  out_stride, tq, tk, heads, kv_heads, head_dim, causal_offset,  scale};
    if (tq * heads * tk * head_dim < 65536) vk_attention_rows(&a, 0, tq * heads);
    else vk_parallel_for(tq * heads, vk_attention_rows, &a);
}

// MARK: - Vision layout

void vk_patchify(const float *pixels, long channels, long height, long width, long patch, float *out) {
    long gw = width / patch, gh = height / patch;
    long row = channels * patch * patch;
    for (long py = 0; py < gh; py++)
        for (long px = 0; px < gw; px++) {
            float *dst = out + (py * gw + px) * row;
            for (long c = 0; c < channels; c++)
                for (long ky = 0; ky < patch; ky++) {
                    const float *src = pixels + (c * height + py * patch + ky) * width + px * patch;
                    memcpy(dst + (c * patch + ky) * patch, src, sizeof(float) * patch);
                }
        }
}

void vk_pixel_shuffle(const float *x, long grid, long dim, long scale, float *out) {
    long g2 = grid / scale;
    for (long h = 0; h < g2; h++)
        for (long w = 0; w < g2; w++) {
            float *dst = out + (h * g2 + w) * scale * scale * dim;
            for (long dh = 0; dh < scale; dh++)
                for (long dw = 0; dw < scale; dw++) {
                    const float *src = x + ((h * scale + dh) * grid + (w * scale + dw)) * dim;
                    memcpy(dst + (dh * scale + dw) * dim, src, sizeof(float) * dim);
                }
        }
}

// MARK: - Selection

long vk_top2(const float *x, long n, long *second) {
    long best = 0, next = n > 1 ? 1 : 0;
    if (n > 1 && x[1] > x[0]) {
        best = 1;
        next = 0;
    }
    for (long i = 2; i < n; i++) {
        if (x[i] > x[best]) {
            next = best;
            best = i;
        } else if (x[i] > x[next]) {
            next = i;
        }
    }
    if (second) *second = next;
    return best;
}

// MARK: - bf16 / f16

VK_CLONES void vk_f32_to_bf16(const float *x, uint16_t *y, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], 4);
        if ((bits & 0x7fffffffu) > 0x7f800000u) {
            y[i] = (uint16_t)((bits >> 16) | 0x40);  // quiet NaN
        } else {
            uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);  // round to nearest, ties to even
            y[i] = (uint16_t)((bits + rounding) >> 16);
        }
    }
}

VK_CLONES void vk_bf16_to_f32(const uint16_t *x, float *y, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)x[i] << 16;
        memcpy(&y[i], &bits, 4);
    }
}

VK_CLONES void vk_f16_to_f32(const uint16_t *x, float *y, long n) {
    for (long i = 0; i < n; i++) y[i] = (float)(*(const _Float16 *)&x[i]);
}

// MARK: - Random fill

void vk_fill_uniform(float *x, long n, uint64_t seed, float scale) {
    uint64_t state = seed;
    for (long i = 0; i < n; i++) {
        state += 0x9E3779B97F4A7C15ull;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        x[i] = ((float)(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * scale;
    }
}

// MARK: - CPU

const char *vk_kernel_isa(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "avx512";
    if (__builtin_cpu_supports("x86-64-v3")) return "avx2";
#endif
    return "baseline";
}

int vk_cpu_has_bf16(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
#else
    return 0;
#endif
}
