#!/usr/bin/env python3
"""PyTorch (transformers 5.24) figures for the same measurements `vigil bench` makes, for docs/performance.md.

SmolVLM2-256M (or 500M) shapes with random weights, batch 1, `torch.set_num_threads(THREADS)`, inference mode,
transformers' default attention (sdpa):
  vision_s_per_frame  vision tower + connector on one 512x512 frame: median over N distinct frames after 2 warm-ups
  prefill_tok_s       a 1024-token text prompt, logits of the last position only (logits_to_keep=1), median of 3
  decode_tok_s        128 greedy tokens after that prompt with the KV cache (DynamicCache), eos ignored
Prints one JSON object. Not part of the tests. Needs the packages of scripts/fixtures/requirements.txt.

Usage: pytorch_bench.py [--model 256m|500m] [--dtype bfloat16|float32] [--threads 2] [--frames 5]
"""
import argparse
import json
import resource
import statistics
import time

import torch
from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration

CONFIGS = {
    "256m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                 num_key_value_heads=3),
    "500m": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
                 num_key_value_heads=5),
}


def build(model, dtype):
    text = dict(model_type="llama", vocab_size=49280, head_dim=64, max_position_embeddings=8192, rms_norm_eps=1e-5,
                rope_parameters={"rope_theta": 100000.0, "rope_type": "default"}, **CONFIGS[model])
    vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                  image_size=512, patch_size=16)
    config = SmolVLMConfig(text_config=text, vision_config=vision, scale_factor=4, image_token_id=49190,
                           tie_word_embeddings=False)
    torch.manual_seed(0)
    return SmolVLMForConditionalGeneration(config).to(dtype).eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="256m", choices=sorted(CONFIGS))
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--prompt-tokens", type=int, default=1024)
    ap.add_argument("--decode-tokens", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    model = build(args.model, dtype)
    vision, connector = model.model.vision_model, model.model.connector
    g = torch.Generator().manual_seed(1)

    with torch.inference_mode():
        times = []
        for i in range(args.frames + 2):
            pixels = torch.randn(1, 3, 512, 512, generator=g).to(dtype)
            start = time.perf_counter()
            connector(vision(pixel_values=pixels).last_hidden_state)
            if i >= 2:
                times.append(time.perf_counter() - start)
        vision_s = statistics.median(times)

        ids = torch.randint(0, 49152, (1, args.prompt_tokens), generator=g)
        lm = model.model.text_model
        model(input_ids=ids[:, :8], logits_to_keep=1)  # warm-up
        prefill = []
        for _ in range(3):
            start = time.perf_counter()
            out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
            prefill.append(time.perf_counter() - start)
        prefill_s = statistics.median(prefill)

        cache = out.past_key_values
        token = out.logits[:, -1:].argmax(-1)
        start = time.perf_counter()
        for _ in range(args.decode_tokens):
            out = model(input_ids=token, past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            token = out.logits[:, -1:].argmax(-1)
        decode_s = time.perf_counter() - start
        del lm

    print(json.dumps({
        "implementation": f"pytorch {torch.__version__} transformers {__import__('transformers').__version__}",
        "model": f"smolvlm2-{args.model}", "dtype": args.dtype, "threads": args.threads,
        "vision_s_per_frame": vision_s, "vision_frames": args.frames,
        "prefill_tokens": args.prompt_tokens, "prefill_tok_s": args.prompt_tokens / prefill_s,
        "decode_tokens": args.decode_tokens, "decode_context": args.prompt_tokens,
        "decode_tok_s": args.decode_tokens / decode_s,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }))


if __name__ == "__main__":
    main()
