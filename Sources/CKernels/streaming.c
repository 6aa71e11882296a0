// Kernels of the streaming engine (see include/ckernels.h, "Streaming"): re-rotating cached keys from their pre-RoPE
// source when a block's position moves (contiguous RoPE), row gathers and scatters for STC-Cacher's partial updates,
// per-row cosines (cacher selection, pruner novelty) and mean rows (block keys, anchors).
//
// The re-rotation goes through vk_rope itself, so a key re-rotated from its pre-RoPE copy is bit-identical to the
// same key rotated once during prefill.
#include "ckernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#define VK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VK_CLONES
#endif

long vk_rope_store_scratch_floats(long head_dim) { return VK_ROPE_STORE_CHUNK * head_dim; }

void vk_rope_store(const float *raw, void *dst, int dst_bf16, long rows, long head_dim, const int32_t *positions,
                   const float *cos_table, const float *sin_table, float *scratch) {
    for (long r0 = 0; r0 < rows; r0 += VK_ROPE_STORE_CHUNK) {
        long n = rows - r0 < VK_ROPE_STORE_CHUNK ? rows - r0 : VK_ROPE_STORE_CHUNK;
        memcpy(scratch, raw + r0 * head_dim, sizeof(float) * (size_t)(n * head_dim));
        vk_rope(scratch, n, 1, head_dim, head_dim, positions + r0, cos_table, sin_table);
        if (dst_bf16) {
            vk_f32_to_bf16(scratch, (uint16_t *)dst + r0 * head_dim, n * head_dim);
        } else {
            memcpy((float *)dst + r0 * head_dim, scratch, sizeof(float) * (size_t)(n * head_dim));
        }
    }
}

VK_CLONES void vk_gather_rows(const float *src, long src_stride, const int32_t *rows, long n, long width, float *dst,
                              long dst_stride) {
    for (long i = 0; i < n; i++) memcpy(dst + i * dst_stride, src + (long)rows[i] * src_stride, sizeof(float) * width);
}

VK_CLONES void vk_scatter_rows(const float *src, long src_stride, const int32_t *rows, long n, long width, float *dst,
                               long dst_stride) {
    for (long i = 0; i < n; i++) memcpy(dst + (long)rows[i] * dst_stride, src + i * src_stride, sizeof(float) * width);
}

VK_CLONES void vk_row_cosines(const float *a, long a_stride, const float *b, long b_stride, long rows, long dim,
                              float *out) {
#pragma clang fp reassociate(on)
    for (long r = 0; r < rows; r++) {
        const float *x = a + r * a_stride, *y = b + r * b_stride;
        float xy = 0, xx = 0, yy = 0;
        for (long i = 0; i < dim; i++) {
            xy += x[i] * y[i];
            xx += x[i] * x[i];
            yy += y[i] * y[i];
        }
        float denominator = sqrtf(xx) * sqrtf(yy);
        out[r] = denominator > 0 ? xy / denominator : (xx == 0 && yy == 0 ? 1.0f : 0.0f);
    }
}

VK_CLONES void vk_cosines_to(const float *a, long a_stride, long rows, const float *v, long dim, float *out) {
#pragma clang fp reassociate(on)
    float vv = 0;
    for (long i = 0; i < dim; i++) vv += v[i] * v[i];
    float vnorm = sqrtf(vv);
    for (long r = 0; r < rows; r++) {
        const float *x = a + r * a_stride;
        float xy = 0, xx = 0;
        for (long i = 0; i < dim; i++) {
            xy += x[i] * v[i];
            xx += x[i] * x[i];
        }
        float denominator = sqrtf(xx) * vnorm;
        out[r] = denominator > 0 ? xy / denominator : 0.0f;
    }
}

VK_CLONES void vk_mean_rows(const float *x, long stride, long rows, long dim, float *out) {
    for (long i = 0; i < dim; i++) out[i] = 0;
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * stride;
        for (long i = 0; i < dim; i++) out[i] += row[i];
    }
    float inv = rows > 0 ? 1.0f / (float)rows : 0.0f;
    for (long i = 0; i < dim; i++) out[i] *= inv;
}

VK_CLONES void vk_mean_rows_bf16(const uint16_t *x, long stride, long rows, long dim, float *out) {
    for (long i = 0; i < dim; i++) out[i] = 0;
    for (long r = 0; r < rows; r++) {
        const uint16_t *row = x + r * stride;
        for (long i = 0; i < dim; i++) {
            uint32_t bits = (uint32_t)row[i] << 16;
            float value;
            memcpy(&value, &bits, 4);
            out[i] += value;
        }
    }
    float inv = rows > 0 ? 1.0f / (float)rows : 0.0f;
    for (long i = 0; i < dim; i++) out[i] *= inv;
}

VK_CLONES float vk_mean_abs_diff_u8(const uint8_t *a, const uint8_t *b, long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
    return n > 0 ? (float)sum / (float)n : 0.0f;
}

VK_CLONES void vk_row_mean_abs_diff(const float *a, const float *b, long rows, long dim, float *out) {
#pragma clang fp reassociate(on)
    for (long r = 0; r < rows; r++) {
        const float *x = a + r * dim, *y = b + r * dim;
        float sum = 0;
        for (long i = 0; i < dim; i++) sum += fabsf(x[i] - y[i]);
        out[r] = dim > 0 ? sum / (float)dim : 0.0f;
    }
}

// Quickselect over (value, index) pairs; ties broken by index so the choice is deterministic.
struct vk_pair {
    float value;
    int32_t index;
};

static int pair_less(struct vk_pair a, struct vk_pair b) {
    return a.value < b.value || (a.value == b.value && a.index < b.index);
}

void vk_select_k(const float *values, long n, long k, int highest, void *scratch, int32_t *out) {
    if (k <= 0) return;
    if (k >= n) {
        for (long i = 0; i < n; i++) out[i] = (int32_t)i;
        return;
    }
    struct vk_pair *p = scratch;
    for (long i = 0; i < n; i++) {
        p[i].value = highest ? -values[i] : values[i];
        if (p[i].value != p[i].value) p[i].value = highest ? -__builtin_inff() : __builtin_inff();  // NaN: never kept
        p[i].index = (int32_t)i;
    }
    long lo = 0, hi = n - 1, target = k - 1;
    while (lo < hi) {
        struct vk_pair pivot = p[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (pair_less(p[i], pivot)) i++;
            while (pair_less(pivot, p[j])) j--;
            if (i <= j) {
                struct vk_pair t = p[i];
                p[i] = p[j];
                p[j] = t;
                i++;
                j--;
            }
        }
        if (target <= j) hi = j;
        else if (target >= i) lo = i;
        else break;
    }
    // The first k pairs are the k smallest; emit their indices ascending through a mark pass (O(n), no sort).
    unsigned char *mark = (unsigned char *)(p + n);
    memset(mark, 0, (size_t)n);
    for (long i = 0; i < k; i++) mark[p[i].index] = 1;
    long m = 0;
    for (long i = 0; i < n && m < k; i++)
        if (mark[i]) out[m++] = (int32_t)i;
}

long vk_select_k_scratch_bytes(long n) { return n * (long)sizeof(struct vk_pair) + n; }

VK_CLONES double vk_nll(const float *logits, long vocab, long target) {
    float m = logits[0];
    for (long i = 1; i < vocab; i++) m = logits[i] > m ? logits[i] : m;
    double sum = 0;
    for (long i = 0; i < vocab; i++) sum += exp((double)(logits[i] - m));
    return log(sum) + (double)m - (double)logits[target];
}
