"""The split view's two conversations: answered together (2 replies at once) or in turn.

The chat's engine (:class:`InferenceWorker`, the worker's decode loop) is loaded twice with the
same file and settings, once with one reply at a time and once with two at once. For each it
times one reply alone, then two replies asked at the same moment (with one slot the second
waits for the first, as the split view's panes take turns). It prints, per setting, each
reply's time to first token, its own tokens/s while it streamed, and the wall time until both
replies were complete: what a person comparing two conversations waits for.

Run: ``python -m benchmarks.chat_two_panes MODEL.gguf [--tokens 128] [--threads N]
[--ctx 2048] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from desktop.engine.worker import InferenceWorker, LoadSettings, ReplyStats, SamplingSettings

PROMPTS = ("The history of the harbor town begins with", "A good recipe for bread needs")


@dataclass(frozen=True)
class Timed:
    """One reply: seconds from the request to its first text and to its end, and its figures."""

    first_s: float
    end_s: float
    stats: ReplyStats


def _reply(worker: InferenceWorker, prompt: str, tokens: int, start: float) -> Timed:
    first: list[float] = []

    def on_text(_piece: str) -> None:
        if not first:
            first.append(time.perf_counter() - start)

    sampling = SamplingSettings.greedy(max_tokens=tokens)
    stats = worker.complete(prompt, sampling, on_token=on_text)
    return Timed(first[0] if first else float("nan"), time.perf_counter() - start, stats)


def _two_at_once(worker: InferenceWorker, tokens: int) -> list[Timed]:
    results: list[Timed | None] = [None, None]
    start = time.perf_counter()

    def run(index: int) -> None:
        results[index] = _reply(worker, PROMPTS[index], tokens, start)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


def measure(model: Path, parallel: int, args: argparse.Namespace) -> dict[str, float]:
    settings = LoadSettings(ctx_tokens=args.ctx, threads=args.threads, parallel=parallel)
    alone_rates: list[float] = []
    pair_rates: list[float] = []
    pair_walls: list[float] = []
    pair_firsts: list[float] = []
    with InferenceWorker() as worker:
        worker.load(model, settings)
        _reply(worker, PROMPTS[0], 8, time.perf_counter())  # warm-up
        for _ in range(args.rounds):
            alone = _reply(worker, PROMPTS[0], args.tokens, time.perf_counter())
            alone_rates.append(alone.stats.generation_tokens_per_second)
            pair = _two_at_once(worker, args.tokens)
            assert all(p.stats.generated_tokens == args.tokens for p in pair)
            pair_rates += [p.stats.generation_tokens_per_second for p in pair]
            pair_walls.append(max(p.end_s for p in pair))
            pair_firsts.append(max(p.first_s for p in pair))
    return {
        "alone_tok_s": statistics.median(alone_rates),
        "pair_each_tok_s": statistics.median(pair_rates),
        "pair_wall_s": statistics.median(pair_walls),
        "pair_last_first_s": statistics.median(pair_firsts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = {parallel: measure(args.model, parallel, args) for parallel in (1, 2)}
    print(f"{args.model.name}, {args.tokens} tokens per reply, median of {args.rounds} rounds")
    print("| replies at once | one reply alone tok/s | each of two tok/s "
          "| second reply's first text s | both complete s |")  # fmt: skip
    print("|---|---|---|---|---|")
    for parallel, row in rows.items():
        print(
            f"| {parallel} | {row['alone_tok_s']:.1f} | {row['pair_each_tok_s']:.1f} "
            f"| {row['pair_last_first_s']:.2f} | {row['pair_wall_s']:.2f} |"
        )
    gain = rows[1]["pair_wall_s"] / rows[2]["pair_wall_s"]
    print(f"both replies complete {gain:.2f}x sooner with 2 replies at once")


if __name__ == "__main__":
    main()
