// The fused single-token decode step: every layer of a Llama decoder, the final norm and the lm_head for one new
// token, inside ONE parallel region (threads meet at spin barriers between dependent operations instead of
// forking per matrix). Decode is memory-bound: its matrices are streamed as int8 (per-row scales), bf16 or f32
// by our own GEMV kernels; oneDNN is not used here.
//
// Shape legend: D hidden, H query heads, Hkv KV heads, Hd head dim, I MLP width, V vocabulary, C cache capacity.
#ifndef VIGIL_CKERNELS_DECODE_H
#define VIGIL_CKERNELS_DECODE_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Storage type of a decode matrix.
enum vk_weight_type { VK_WEIGHT_F32 = 0, VK_WEIGHT_BF16 = 1, VK_WEIGHT_Q8 = 2 };

/// A row-major matrix [rows, cols] for y = W·x: f32, bf16, or int8 with one f32 scale per row (w = q · scale).
typedef struct {
    int type;
    long rows, cols;
    const void *data;
    const float *scales;  // VK_WEIGHT_Q8 only
} vk_matrix;

/// One decoder layer. qkv rows: [H·Hd queries | Hkv·Hd keys | Hkv·Hd values]; gate_up rows interleave gate and up
/// in blocks of 16 (rows 32b..32b+15 = gate 16b..16b+15, rows 32b+16..32b+31 = up 16b..16b+15), so a thread that
/// owns a block computes silu(gate)·up for it without waiting for the other thread.
typedef struct {
    const float *input_norm, *post_norm;  // [D]
    vk_matrix qkv, o, gate_up, down;
    void *k_cache, *v_cache;              // [Hkv, C, Hd] f32 or bf16 (vk_decoder.kv_bf16), keys stored rotated
    float *k_raw;                         // [Hkv, C, Hd] f32 keys before RoPE (streaming caches), or NULL
} vk_decode_layer;

/// The whole decoder.
typedef struct {
    long layers, hidden, heads, kv_heads, head_dim, intermediate, vocab, capacity;
    float eps;
    int kv_bf16;  // the KV cache holds bf16 (else f32)
    const vk_decode_layer *layer;
    const float *final_norm;  // [D]
    vk_matrix lm_head;        // [V, D]
    const float *rope_cos, *rope_sin;  // [max_positions, Hd/2]
} vk_decoder;

/// Scratch floats vk_decode_step needs.
long vk_decode_scratch_floats(const vk_decoder *d);

/// Runs one token: x [D] (its embedding, overwritten by the residual stream) at `position`, attending to cache
/// slots 0 … past (the new token's K/V are written to slot `past`; its pre-RoPE key too where the layer has
/// `k_raw`). The position is the token's logical RoPE index, which a streaming cache may keep apart from the slot.
/// Writes logits [V].
void vk_decode_step(const vk_decoder *d, float *x, int32_t position, long past, float *logits, float *scratch);

/// y[N] = W · x[K] (+ y when accumulate) for any vk_matrix, single call (tests and odd shapes).
void vk_gemv(const vk_matrix *w, const float *x, float *y, int accumulate);

/// Quantises W [rows, cols] f32 to int8 with one scale per row (symmetric, round to nearest: q = round(w / s),
/// s = max|w| / 127).
void vk_quantize_rows_q8(const float *w, long rows, long cols, int8_t *q, float *scales);

#ifdef __cplusplus
}
#endif
#endif
