"""Flash attention off against on, on one GGUF: one reply, many replies at once, greedy tokens.

The worker's own paths with only the flash-attention switch changed:

* one reply (``InferenceWorker.complete``, greedy, as chat, compare and the API use it): the
  prompt and generation speeds the worker reports, with two workers loaded side by side, one
  per setting;
* ``--slots`` replies at once in separate children: the bare batched decoding
  (``batch_steps.decode_only``) and the app's decode loop (``batch_steps.decode_loop``);
* whether greedy replies to a few prompts are the same token for token (flash attention
  accumulates in another order, so a near tie between two tokens may go the other way): at
  the first token that differs, the two most likely tokens and their log-probabilities under
  each setting.

Rounds alternate which setting goes first, so drifting load from other work hits both alike;
medians and the range over the rounds are printed as Markdown tables.

Run: ``python -m benchmarks.flash_attention_cpu MODEL.gguf [--rounds 5] [--tokens 128]
[--slots 16] [--batch-tokens 64] [--ctx 1024] [--threads N]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
from pathlib import Path

from benchmarks import batch_steps
from converter.child_process import run_in_child
from desktop.engine.hardware import cpu_model_name
from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings, TokenLogprobs

PROMPT = "The history of the harbor town begins with"
GREEDY_PROMPTS = (
    PROMPT,
    "Question: What is the capital of France?\nAnswer:",
    "def fibonacci(n):",
    "Once upon a time, in a small village by the sea,",
)
SETTINGS = {"off": False, "on": True}
GREEDY_TOKENS = 64


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def _greedy_tokens(worker: InferenceWorker, prompt: str) -> list[TokenLogprobs]:
    """A greedy reply's tokens, each with the two most likely tokens at its place."""
    tokens: list[TokenLogprobs] = []
    worker.complete(
        prompt,
        SamplingSettings.greedy(max_tokens=GREEDY_TOKENS),
        on_token=lambda _p: None,
        logprobs=2,
        on_logprobs=tokens.extend,
    )
    return tokens


def _top_two(place: TokenLogprobs) -> str:
    """``' Dutch' −1.312 / ' French' −1.318``: the near tie a changed rounding can flip."""
    return " / ".join(
        f"{t.piece.decode('utf-8', errors='replace')!r} {t.logprob:.3f}" for t in place.top[:2]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128, help="one reply's tokens")
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--batch-tokens", type=int, default=64, help="tokens per batched reply")
    parser.add_argument("--ctx", type=int, default=1024, help="context tokens (per slot)")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    single: dict[str, dict[str, list[float]]] = {
        name: {"prompt": [], "generation": []} for name in SETTINGS
    }
    batched: dict[str, dict[str, list[float]]] = {
        name: {"decode only": [], "decode loop": []} for name in SETTINGS
    }
    greedy: dict[str, list[list[TokenLogprobs]]] = {}
    workers = {name: InferenceWorker() for name in SETTINGS}
    try:
        for name, flash in SETTINGS.items():
            settings = LoadSettings(
                ctx_tokens=args.ctx, threads=args.threads, flash_attention=flash
            )
            workers[name].load(args.model, settings)
            greedy[name] = [_greedy_tokens(workers[name], p) for p in GREEDY_PROMPTS]
        for round_ in range(args.rounds):
            order = list(SETTINGS) if round_ % 2 == 0 else list(reversed(SETTINGS))
            for name in order:
                reply = workers[name].complete(
                    PROMPT,
                    SamplingSettings.greedy(max_tokens=args.tokens),
                    on_token=lambda _p: None,
                )
                single[name]["prompt"].append(reply.prompt_tokens_per_second)
                single[name]["generation"].append(reply.generation_tokens_per_second)
            for name in order:
                batch_args = argparse.Namespace(
                    model=args.model, slots=args.slots, tokens=args.batch_tokens, ctx=args.ctx,
                    threads=args.threads, gpu_layers=0, flash_attention=SETTINGS[name],
                    greedy=True, profile=None,
                )  # fmt: skip
                batched[name]["decode only"].append(
                    run_in_child(batch_steps.decode_only, batch_args, what="batched decoding")
                )
                batched[name]["decode loop"].append(
                    run_in_child(batch_steps.decode_loop, batch_args, None, what="decode loop")
                )
            print(round_, single, batched, flush=True)
    finally:
        for worker in workers.values():
            worker.close()
    print(
        f"\n{cpu_model_name()}, {os.cpu_count()} logical cores; "
        f"{datetime.date.today().isoformat()}; {args.model.name}, threads "
        f"{args.threads or 'auto'}, CPU only; median (range) of {args.rounds} rounds\n"
    )
    print(f"| flash attention | prompt tok/s | tg{args.tokens} tok/s | {args.slots} replies: "
          f"decode only tok/s | {args.slots} replies: decode loop tok/s |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name in SETTINGS:
        print(f"| {name} | {_spread(single[name]['prompt'])} "
              f"| {_spread(single[name]['generation'])} "
              f"| {_spread(batched[name]['decode only'])} "
              f"| {_spread(batched[name]['decode loop'])} |")  # fmt: skip
    print(f"\nGreedy replies ({GREEDY_TOKENS} tokens), off against on:")
    for prompt, off, on in zip(GREEDY_PROMPTS, greedy["off"], greedy["on"], strict=True):
        pairs = enumerate(zip(off, on, strict=False))
        where = next((i for i, (a, b) in pairs if a.chosen.token != b.chosen.token), None)
        if where is None:
            print(f"- {prompt!r}: the same {len(off)} tokens")
            continue
        print(f"- {prompt!r}: the same for {where} tokens, then "
              f"off: {_top_two(off[where])}; on: {_top_two(on[where])}")  # fmt: skip


if __name__ == "__main__":
    main()
