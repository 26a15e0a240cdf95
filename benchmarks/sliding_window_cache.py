"""The sliding-window layers' KV cache at full size against windowed, on one GGUF.

A model with sliding-window attention (Gemma 3, gpt-oss) needs, in its windowed layers, only
the last window of tokens. llama.cpp's library keeps those layers' cache as large as the
context anyway unless told otherwise (``swa_full``); its own tools, and the worker, keep the
window and a batch. For each setting, in a fresh child loading the model as the worker does
(:func:`desktop.engine.llama_loading.open_llama`, the weights read in or mapped by the
worker's rule), this measures:

* the KV buffer llama.cpp reports, and the child's resident size after the prompt;
* the speed of a ``--prompt-tokens`` prompt, read in the worker's 512-token batches;
* generation speed right after it, at that depth (``--tokens`` single-token decodes).

Rounds alternate which setting goes first; medians and ranges are printed as Markdown.

Run: ``python -m benchmarks.sliding_window_cache MODEL.gguf [--ctx 32768]
[--prompt-tokens 4000] [--tokens 64] [--rounds 3] [--threads N]``
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import os
import statistics
import time
from pathlib import Path
from typing import Any

from converter.child_process import run_in_child
from desktop.engine.hardware import cpu_model_name

MIB = 1024 * 1024
SETTINGS = {"full size": True, "windowed": False}


def measure(
    _emit: Any, path: str, swa_full: bool, ctx: int, prompt_tokens: int, tokens: int, threads: int
) -> dict[str, float]:
    """In a child: KV MiB, resident MiB, prompt tok/s and generation tok/s for one setting."""
    import llama_cpp
    import psutil

    from benchmarks.gpu.vram import buffer_sizes
    from desktop.engine.llama_loading import open_llama
    from desktop.engine.worker.loader import maps_model_file

    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def collect(_level: int, text: bytes, _data: ctypes.c_void_p) -> None:
        lines.append(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
    llama = open_llama(
        path,
        n_ctx=ctx,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        swa_full=swa_full,
        use_mmap=maps_model_file(Path(path)),
    )
    try:
        prompt = [llama.token_bos()] + [1000 + (i * 7919) % 20000 for i in range(prompt_tokens - 1)]
        started = time.perf_counter()
        llama.eval(prompt)
        prompt_speed = prompt_tokens / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(tokens):
            llama.eval([1234])
        generation_speed = tokens / (time.perf_counter() - started)
        rss = psutil.Process().memory_info().rss / MIB
    finally:
        llama.close()
    buffers = buffer_sizes("".join(lines))  # "<device> <kind>": bytes
    return {
        "KV cache MiB": sum(size for name, size in buffers.items() if name.endswith(" KV")) / MIB,
        "resident MiB": rss,
        "prompt tok/s": prompt_speed,
        "generation tok/s": generation_speed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--ctx", type=int, default=32768)
    parser.add_argument("--prompt-tokens", type=int, default=4000)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    for round_number in range(args.rounds):
        names = list(SETTINGS) if round_number % 2 == 0 else list(reversed(SETTINGS))
        for name in names:
            figures = run_in_child(
                measure,
                str(args.model),
                SETTINGS[name],
                args.ctx,
                args.prompt_tokens,
                args.tokens,
                args.threads,
                what="Measuring",
            )
            results[name].append(figures)
            print(name, {k: round(v, 1) for k, v in figures.items()}, flush=True)
    print(
        f"\n{cpu_model_name()}, {os.cpu_count()} logical cores, {args.threads} threads; "
        f"{datetime.date.today().isoformat()}; {args.model.name}, context {args.ctx}, "
        f"a {args.prompt_tokens}-token prompt, then {args.tokens} tokens; "
        f"median (range) of {args.rounds} rounds\n"
    )
    columns = list(next(iter(results.values()))[0])
    print("| SWA layers' cache | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, runs in results.items():
        cells = []
        for column in columns:
            values = [run[column] for run in runs]
            cells.append(f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
