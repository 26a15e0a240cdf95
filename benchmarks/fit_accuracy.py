"""Predicted vs measured memory for synthetic GGUF models of several shapes.

Builds random-weight llama models with gguf-py (sizes set by ``--shapes``), loads each with
llama.cpp in a child process for several contexts and KV types, and prints a Markdown table:
llama.cpp's reported buffers (weights, KV, compute) and the worker's resident-size growth
after filling ``--fill`` tokens, next to Quantdesk's prediction.

Run: ``python -m benchmarks.fit_accuracy [--out DIR] [--fill N]``

``--rss MODEL.gguf …`` instead prints the CPU RAM verdict's figure against the peak resident
size of a real session in the app's inference worker: the model loaded with the app's load
settings (context, KV type; flash attention as the app picks it: on unless asked off;
2 threads), a prompt that fills the context but for the reply's 8 tokens
(evaluated in the worker's 512-token batches), then the reply. The peak is the worker's
``VmHWM`` (Linux). Besides the given files it synthesizes a tiny model with Qwen 2's
151,936-token vocabulary and a 1B-shaped one (``--synthetic`` picks which), for each of
``--ctx`` and ``--kv``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import tempfile
from pathlib import Path

import llama_cpp

from desktop.engine.hardware import probe_hardware
from desktop.engine.memory_model import PROCESS_BASELINE_BYTES, estimate_memory
from desktop.engine.worker import LoadSettings
from tests.support.fit_measure import measure_llama_memory, measure_session_peak
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

MIB = 1024**2
SHAPES = {
    "0.5 GB (1024 x 12, vocab 32k)": TinyModelShape(
        n_layer=12, n_embd=1024, n_head=16, n_head_kv=4, n_ff=4096, n_vocab=32000
    ),
    "1.0 GB (2048 x 8, vocab 32k)": TinyModelShape(
        n_layer=8, n_embd=2048, n_head=16, n_head_kv=8, n_ff=5632, n_vocab=32000
    ),
}
CASES = (
    (512, "f16", False),
    (4096, "f16", False),
    (4096, "q8_0", True),
    (16384, "q4_0", True),
    (32768, "f16", True),
)
KV_IDS = {
    "f16": llama_cpp.GGML_TYPE_F16,
    "q8_0": llama_cpp.GGML_TYPE_Q8_0,
    "q4_0": llama_cpp.GGML_TYPE_Q4_0,
}


RSS_SHAPES = {
    "tiny, vocab 152k": TinyModelShape(
        n_layer=2, n_embd=256, n_head=4, n_head_kv=2, n_ff=512, n_vocab=151936
    ),
    "1B-shaped (2048 x 16, vocab 128k)": TinyModelShape(
        n_layer=16, n_embd=2048, n_head=32, n_head_kv=8, n_ff=8192, n_vocab=128256
    ),
}


def rss_table(models: list[Path], contexts: list[int], kv_types: list[str]) -> None:
    print("| model | ctx | KV | FA | prompt tokens | predicted RAM MiB | measured peak RSS MiB "
          "| error | run s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for path in models:
        for ctx in contexts:
            for kv in kv_types:
                flash = LoadSettings(kv_type=kv).flash_attention_on
                m = measure_session_peak(path, ctx_tokens=ctx, kv_type=kv)
                p = estimate_memory(path, ctx_tokens=ctx, kv_type=kv, flash_attention=flash)
                print(f"| {path.name} | {ctx} | {kv} | {'on' if flash else 'off'} "
                      f"| {m.prompt_tokens} | {p.ram_bytes / MIB:.0f} | {m.peak_rss / MIB:.0f} "
                      f"| {_pct(p.ram_bytes, m.peak_rss)} | {m.seconds:.0f} |",
                      flush=True)  # fmt: skip


def _pct(predicted: float, measured: float) -> str:
    return f"{(predicted - measured) / measured:+.1%}" if measured else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for the synthetic models")
    parser.add_argument("--fill", type=int, default=512, help="tokens evaluated before measuring")
    parser.add_argument("--rss", type=Path, nargs="*", help="peak-RSS table for these models")
    parser.add_argument("--synthetic", nargs="*", default=list(RSS_SHAPES), metavar="SHAPE")
    parser.add_argument("--ctx", type=int, nargs="+", default=[2048, 8192, 16384, 32768])
    parser.add_argument("--kv", nargs="+", default=["f16", "q8_0", "q4_0"])
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="fit-accuracy-"))
    folder.mkdir(parents=True, exist_ok=True)
    if args.rss is not None:
        models = list(args.rss)
        for label in args.synthetic:
            path = folder / f"{label.split(',')[0].split()[0]}-{RSS_SHAPES[label].n_vocab}.gguf"
            if not path.exists():
                write_tiny_gguf(path, RSS_SHAPES[label])
            models.append(path)
        rss_table(models, args.ctx, args.kv)
        return
    hw = probe_hardware()
    print(f"Machine: {hw.cpu.model}, {hw.cpu.logical_cores} threads, "
          f"{hw.ram_total_bytes / 1024**3:.1f} GiB RAM, {platform.system()}; "
          f"llama-cpp-python {hw.offload.llama_cpp_version}; {datetime.date.today()}")  # fmt: skip
    print()
    print("| model | ctx | KV | FA | weights MiB pred/llama | KV MiB pred/llama "
          "| compute MiB pred/llama | RSS growth MiB pred/meas | RSS error |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for label, shape in SHAPES.items():
        path = folder / f"{label.split()[0]}.gguf"
        if not path.exists():
            write_tiny_gguf(path, shape)
        for ctx, kv, fa in CASES:
            m = measure_llama_memory(path, fill_tokens=args.fill, n_ctx=ctx, flash_attn=fa,
                                     type_k=KV_IDS[kv], type_v=KV_IDS[kv])  # fmt: skip
            p = estimate_memory(path, ctx_tokens=ctx, kv_type=kv, flash_attention=fa)
            b = p.breakdown
            growth = p.ram_bytes - PROCESS_BASELINE_BYTES
            print(f"| {label} | {ctx} | {kv} | {'on' if fa else 'off'} "
                  f"| {b['weights_cpu'] / MIB:.1f} / {m.buffers.get('weights', 0) / MIB:.1f} "
                  f"| {b['kv_cpu'] / MIB:.1f} / {m.buffers.get('kv_cache', 0) / MIB:.1f} "
                  f"| {b['compute_cpu'] / MIB:.1f} / {m.buffers.get('compute', 0) / MIB:.1f} "
                  f"| {growth / MIB:.0f} / {m.rss_added / MIB:.0f} | {_pct(growth, m.rss_added)} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
