// Vigil's own CPU kernels, in C so they are optimised even in debug builds (see Package.swift) and vectorised for
// the running CPU (function multi-versioning: AVX-512, AVX2, baseline). The Swift `Kernels` target wraps them; no
// other target calls them. All arrays are row-major f32 unless stated.
//
// Shape legend: T tokens, D hidden, H query heads, Hkv key/value heads, Hd head dim, P patches, C channels.
#ifndef VIGIL_CKERNELS_H
#define VIGIL_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Threads (libgomp, the OpenMP runtime oneDNN already uses: one runtime, one pool)

/// Sets the number of threads of later parallel regions (ours and oneDNN's).
void vk_set_threads(int count);
/// The number of threads parallel regions use.
int vk_threads(void);
/// Calls body(context, begin, end) on disjoint chunks of [0, count) from the OpenMP thread team.
void vk_parallel_for(long count, void (*body)(void *context, long begin, long end), void *context);

// MARK: - Row-wise normalisation

/// y[r] = (x[r] − mean) / sqrt(var + eps) · w + b for each of `rows` rows of `dim` (LayerNorm, biased variance).
void vk_layer_norm(const float *x, const float *w, const float *b, float *y, long rows, long dim, float eps);
/// y[r] = x[r] · rsqrt(mean(x[r]²) + eps) · w for each row (Llama RMSNorm, statistics in fp32).
void vk_rms_norm(const float *x, const float *w, float *y, long rows, long dim, float eps);
/// Softmax over each row of a [rows, cols] array, in place (max-subtracted for stability).
void vk_softmax_rows(float *x, long rows, long cols);

// MARK: - Elementwise

/// x = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), in place (PyTorch gelu, approximate="tanh").
void vk_gelu_tanh(float *x, long n);
/// out[r, i] = silu(gate[r, i]) · up[r, i] for `rows` rows of `cols`; rows of gate/up/out are `*_stride` apart.
void vk_silu_mul(const float *gate, const float *up, long in_stride, float *out, long out_stride, long rows, long cols);
/// out = a + b.
void vk_add(const float *a, const float *b, float *out, long n);

// MARK: - Rotary position embedding

/// Fills cos/sin tables [positions, half] the way Hugging Face Llama computes them in fp32:
/// inv_freq[i] = 1 / theta^(2i/head_dim); angle = pos · inv_freq[i].
void vk_rope_tables(float *cos_table, float *sin_table, long positions, long head_dim, double theta);
/// Rotates x: [T, H, Hd] (rows of tokens `row_stride` floats apart) in place by each token's position, split-half
/// layout: (x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin). Tables are [max_position, Hd/2].
void vk_rope(float *x, long tokens, long heads, long head_dim, long row_stride, const int32_t *positions,
             const float *cos_table, const float *sin_table);

// MARK: - Attention

/// Scaled dot-product attention with grouped KV heads (query head h reads KV head h / (H / Hkv)).
/// q:   [Tq, H·Hd]    rows `q_stride` floats apart
/// k,v: element (head j, key t, d) at k[j·kv_head_stride + t·kv_row_stride + d]
/// out: [Tq, H·Hd]    rows `out_stride` floats apart
/// causal_offset ≥ 0: query i sees keys 0 … i + causal_offset; < 0: every key (bidirectional).
/// scratch: at least vk_threads() · Tk floats.
void vk_attention(const float *q, long q_stride, const float *k, const float *v, long kv_head_stride,
                  long kv_row_stride, float *out, long out_stride, long tq, long tk, long heads, long kv_heads,
                  long head_dim, float scale, long causal_offset, float *scratch);
/// One query row against `n` keys and values (rows `row_stride` floats apart): out[Hd] = softmax(q·Kᵀ·scale)·V.
/// scratch: n floats.
void vk_attend_row(const float *q, const float *k, const float *v, long n, long row_stride, long hd, float scale,
                   float *scores, float *out);
/// The same contract, tiled ("flash") so no Tq×Tk matrix exists; AVX-512 only (check vk_flash_supported).
/// scratch: vk_threads() · vk_flash_scratch_floats(head_dim) floats; shared: vk_flash_shared_floats(…) floats
/// (the transposed keys).
/// k and v may be bf16 (kv_bf16 = 1; strides then count bf16 elements).
void vk_flash_attention(const float *q, long q_stride, const void *k, const void *v, int kv_bf16, long kv_head_stride,
                        long kv_row_stride, float *out, long out_stride, long tq, long tk, long heads, long kv_heads,
                        long head_dim, float scale, long causal_offset, float *scratch, float *shared);
/// Shared scratch floats of vk_flash_attention: the keys transposed, [Hkv, Hd, Tk rounded up to 64].
long vk_flash_shared_floats(long kv_heads, long head_dim, long tk);
/// The flash kernel with bf16 dot products (AVX-512 BF16): Q·Kᵀ and P·V from bf16 operands into fp32
/// accumulators, for the bf16 precisions. Same arguments; `shared` needs vk_flash_shared_floats(…) floats, scratch
/// vk_threads() · vk_flash_bf16_scratch_floats(head_dim).
void vk_flash_attention_bf16(const float *q, long q_stride, const void *k, const void *v, int kv_bf16,
                             long kv_head_stride, long kv_row_stride, float *out, long out_stride, long tq, long tk,
                             long heads, long kv_heads, long head_dim, float scale, long causal_offset,
                             float *scratch, float *shared);
/// Whether vk_flash_attention_bf16 can run here (AVX-512 BF16, head dim a multiple of 32 up to 128).
int vk_flash_bf16_supported(long head_dim);
/// Per-thread scratch floats of vk_flash_attention_bf16.
long vk_flash_bf16_scratch_floats(long head_dim);
/// Whether vk_flash_attention can run here for this head dim.
int vk_flash_supported(long head_dim);
/// Per-thread scratch floats of vk_flash_attention.
long vk_flash_scratch_floats(long head_dim);

// MARK: - Vision layout helpers

/// Unfolds an image [C, H, W] into non-overlapping patches [P, C·p·p] (P = (H/p)·(W/p), row-major patches; each
/// patch ordered c, kh, kw like a Conv2d weight [D, C, p, p]).
void vk_patchify(const float *pixels, long channels, long height, long width, long patch, float *out);
/// Pixel shuffle of a [G·G, D] grid by `scale` s: out [(G/s)², s²·D] where output token (h', w') holds patch
/// (s·h' + dh, s·w' + dw) at channel offset (dh·s + dw)·D (Idefics3/SmolVLM connector).
void vk_pixel_shuffle(const float *x, long grid, long dim, long scale, float *out);

// MARK: - Streaming (streaming.c)

/// Rows vk_rope_store rotates per pass (its scratch holds this many rows).
#define VK_ROPE_STORE_CHUNK 256
/// Scratch floats vk_rope_store needs.
long vk_rope_store_scratch_floats(long head_dim);
/// dst[r] = RoPE(raw[r], positions[r]) for `rows` contiguous rows of `head_dim` floats, stored as f32 or bf16
/// (dst_bf16). Uses vk_rope, so the result equals a prefill's rotation of the same key bit for bit.
void vk_rope_store(const float *raw, void *dst, int dst_bf16, long rows, long head_dim, const int32_t *positions,
                   const float *cos_table, const float *sin_table, float *scratch);
/// dst[i] = src[rows[i]] (rows of `width` floats; strides in floats).
void vk_gather_rows(const float *src, long src_stride, const int32_t *rows, long n, long width, float *dst,
                    long dst_stride);
/// dst[rows[i]] = src[i].
void vk_scatter_rows(const float *src, long src_stride, const int32_t *rows, long n, long width, float *dst,
                     long dst_stride);
/// out[r] = cos(a[r], b[r]) over `dim` values (1 when both rows are zero, 0 when one is).
void vk_row_cosines(const float *a, long a_stride, const float *b, long b_stride, long rows, long dim, float *out);
/// out[r] = cos(a[r], v) over `dim` values (0 for a zero row or vector).
void vk_cosines_to(const float *a, long a_stride, long rows, const float *v, long dim, float *out);
/// out[dim] = mean of `rows` rows (0 rows: zeros).
void vk_mean_rows(const float *x, long stride, long rows, long dim, float *out);
/// The same over bf16 rows.
void vk_mean_rows_bf16(const uint16_t *x, long stride, long rows, long dim, float *out);
/// Mean |a[i] − b[i]| over n bytes.
float vk_mean_abs_diff_u8(const uint8_t *a, const uint8_t *b, long n);
/// out[r] = mean |a[r] − b[r]| over `dim` values, for contiguous [rows, dim] arrays.
void vk_row_mean_abs_diff(const float *a, const float *b, long rows, long dim, float *out);
/// The indices of the k smallest (or, with `highest`, largest) of values[0..n), written to out[0..k) in ascending
/// index order (raster order). Ties go to the lower index; NaN is never chosen before a number. scratch:
/// vk_select_k_scratch_bytes(n) bytes.
void vk_select_k(const float *values, long n, long k, int highest, void *scratch, int32_t *out);
/// Scratch bytes of vk_select_k.
long vk_select_k_scratch_bytes(long n);
/// −log softmax(logits)[target] over `vocab` logits, in double precision (perplexity).
double vk_nll(const float *logits, long vocab, long target);

// MARK: - Selection

/// The index of the largest of x[0..n) (first on ties) and, in *second, the index of the runner-up.
long vk_top2(const float *x, long n, long *second);

// MARK: - bf16

/// Rounds f32 to bf16 (round to nearest even; NaN kept quiet).
void vk_f32_to_bf16(const float *x, uint16_t *y, long n);
/// Widens bf16 to f32.
void vk_bf16_to_f32(const uint16_t *x, float *y, long n);
/// Widens IEEE half to f32.
void vk_f16_to_f32(const uint16_t *x, float *y, long n);

// MARK: - CPU

/// The instruction set the multi-versioned kernels run with: "avx512", "avx2" or "baseline".
const char *vk_kernel_isa(void);
/// Whether the CPU runs the AVX-512 kernels (avx512f, bw, dq and vl: the x86-64-v4 level).
int vk_cpu_has_avx512(void);
/// Whether the CPU has native bf16 matrix arithmetic (AVX-512 BF16 or AMX-BF16).
int vk_cpu_has_bf16(void);

// MARK: - Random fill (random-weight models for benchmarks)

/// Fills x with `n` values uniform in [-scale, scale] from a SplitMix64 stream seeded by `seed`.
void vk_fill_uniform(float *x, long n, uint64_t seed, float scale);

#ifdef __cplusplus
}
#endif
#endif
