"""Token by token: how evenly the decode loop and the plain eval loop produce tokens.

``decode_speed`` compares mean speeds; this script looks at the distribution behind them. In
one process, on one loaded model (the worker's own loading), it alternates

* the plain llama-cpp-python eval loop (one ``Llama.eval`` per token, no sampling);
* the worker's decode loop, greedy, in its own order (on a GPU: the next decode queued before
  the drawn token is spelled out);
* the decode loop in the CPU's order (each token spelled out before the next decode);
* the decode loop with Python's garbage collector off while it runs;
* a bare sampling loop: ``llama_decode``, the logits read (which waits for the decode), a
  numpy argmax, nothing else; the least a loop that draws its tokens must do, and what
  llama-bench's tg test does but for the argmax;

and prints, per path, the mean, median, 90th and 99th percentile and longest interval between
two tokens, how many intervals took more than 1.5× the median, and where in the reply those
long ones were (the first intervals after the prompt, or later). A mean well above the median
points at occasional long tokens (a collection, a thread taking the GIL, a rebuilt CUDA graph)
rather than a steady cost per token; long ones at the start of every reply point at llama.cpp
re-making its CUDA graph after the prompt's differently shaped batch.

Run: ``python -m benchmarks.decode_jitter MODEL.gguf [--tokens 256] [--rounds 3]
[--threads N] [--gpu-layers N] [--json PATH]``
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.decode_speed import single_reply_loop
from desktop.engine.worker import LoadSettings, SamplingSettings

PROMPT = "The history of the harbor town begins with"


def eval_intervals(llama: Any, tokens: int) -> list[float]:
    """Seconds between consecutive single-token ``eval`` calls after the prompt."""
    import llama_cpp

    llama.reset()
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llama.ctx), True)
    prompt = llama.tokenize(PROMPT.encode(), add_bos=True)
    llama.eval(prompt)
    token = prompt[-1]
    stamps = [time.perf_counter()]
    for _ in range(tokens):
        llama.eval([token])
        stamps.append(time.perf_counter())
    return [after - before for before, after in itertools.pairwise(stamps)]


def bare_intervals(llama: Any, tokens: int) -> list[float]:
    """Seconds between tokens of the bare loop: decode one token, read its logits, argmax."""
    import llama_cpp

    from desktop.engine.worker.logits_rows import LogitsRows

    ctx = llama.ctx
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    n_vocab = int(llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(llama.model)))
    logits = LogitsRows(ctx, n_vocab)
    prompt = llama.tokenize(PROMPT.encode(), add_bos=True)
    batch = llama_cpp.llama_batch_init(len(prompt), 0, 1)
    try:

        def decode(pieces: list[int], start: int) -> int:
            batch.n_tokens = len(pieces)
            for i, token in enumerate(pieces):
                batch.token[i], batch.pos[i] = token, start + i
                batch.n_seq_id[i], batch.seq_id[i][0] = 1, 0
                batch.logits[i] = i == len(pieces) - 1
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            return int(logits.row(len(pieces) - 1).argmax())

        token = decode(prompt, 0)
        stamps = [time.perf_counter()]
        for position in range(len(prompt), len(prompt) + tokens - 1):
            token = decode([token], position)
            stamps.append(time.perf_counter())
    finally:
        llama_cpp.llama_batch_free(batch)
    return [after - before for before, after in itertools.pairwise(stamps)]


def loop_intervals(
    llama: Any, tokens: int, *, overlap: bool | None, collect_garbage: bool = True
) -> list[float]:
    """Seconds between consecutive tokens drawn by the decode loop (greedy, one reply)."""
    import llama_cpp

    from desktop.engine.worker.protocol import GenerateRequest

    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llama.ctx), True)
    loop = single_reply_loop(llama, overlap=overlap)
    stamps: list[float] = []
    take = loop._take

    def stamped_take(*args: Any) -> None:
        stamps.append(time.perf_counter())
        take(*args)

    loop._take = stamped_take  # type: ignore[method-assign]
    try:
        if not collect_garbage:
            gc.disable()
        loop.submit(GenerateRequest(PROMPT, SamplingSettings.greedy(max_tokens=tokens), False))
        while loop.busy:
            loop.step()
    finally:
        gc.enable()
        loop.close()
    return [after - before for before, after in itertools.pairwise(stamps)]


def summary(replies: list[list[float]]) -> dict[str, Any]:
    """The distribution of all replies' intervals, and where in a reply the long ones were."""
    ordered = sorted(value for intervals in replies for value in intervals)
    median = statistics.median(ordered)
    long_at = [
        index
        for intervals in replies
        for index, value in enumerate(intervals)
        if value > 1.5 * median
    ]

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    return {
        "mean": statistics.mean(ordered) * 1e6,
        "median": median * 1e6,
        "p90": at(0.90) * 1e6,
        "p99": at(0.99) * 1e6,
        "max": ordered[-1] * 1e6,
        "long": len(long_at),
        "count": len(ordered),
        # intervals after the reply's first two tokens: a reply's steady pace
        "mean after 2": statistics.mean(v for intervals in replies for v in intervals[2:]) * 1e6,
        "long at": sorted(long_at),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from desktop.engine.worker.loader import load_model

    load = LoadSettings(ctx_tokens=1024, threads=args.threads, gpu_layers=args.gpu_layers)
    llama, _info = load_model(
        args.model, load, on_progress=lambda _fraction: None, cancelled=lambda: False
    )
    paths: dict[str, Callable[[], list[float]]] = {
        "eval loop": lambda: eval_intervals(llama, args.tokens),
        "decode loop": lambda: loop_intervals(llama, args.tokens, overlap=None),
        "decode loop, CPU order": lambda: loop_intervals(llama, args.tokens, overlap=False),
        "decode loop, no GC": lambda: loop_intervals(
            llama, args.tokens, overlap=None, collect_garbage=False
        ),
        "bare sampling loop": lambda: bare_intervals(llama, args.tokens),
    }
    intervals: dict[str, list[list[float]]] = {name: [] for name in paths}
    try:
        for run in paths.values():  # warm-up: every path once
            run()
        for _round in range(args.rounds):
            for name, run in paths.items():
                intervals[name].append(run())
    finally:
        llama.close()
    rows = {name: summary(values) for name, values in intervals.items()}
    print(
        f"\n{args.model.name}, {args.tokens} tokens × {args.rounds} rounds, "
        f"GPU layers {args.gpu_layers}, threads {args.threads or 'auto'}; µs between tokens\n"
    )
    print(
        "| path | mean | mean after token 2 | median | p90 | p99 | max | > 1.5× median "
        "| where (interval index) |\n|---|---|---|---|---|---|---|---|---|"
    )
    for name, row in rows.items():
        where = ", ".join(str(index) for index in row["long at"][:24])
        print(
            f"| {name} | {row['mean']:.0f} | {row['mean after 2']:.0f} | {row['median']:.0f} | "
            f"{row['p90']:.0f} | {row['p99']:.0f} | {row['max']:.0f} | "
            f"{row['long']:.0f} of {row['count']:.0f} | {where} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
