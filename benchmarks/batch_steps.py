"""Continuous batching without HTTP: the worker's decode loop against bare batched decoding.

With N replies at once, each step decodes one token of every reply and then draws N tokens.
This measures, on one GGUF and the same load settings (N slots, ``--ctx`` tokens each), the
generation speed (N × (T − 1) tokens over the steps after the prompts) of

* ``batched decode only``: one ``llama_decode`` of N tokens per step and nothing else, the
  floor any server on this build can reach (llama.cpp's ``llama-batched-bench`` measures the
  same: its ``S_TG``, run too when its path is given);
* ``decode loop, 1 draw thread``: Quantdesk's ``DecodeLoop`` drawing the replies' tokens one
  after another, as llama.cpp's server does;
* ``decode loop``: the same loop drawing on several threads (its default);

each reply sampled as ``serve_load``'s clients ask (temperature 0.8, top-k 40, top-p 0.95,
min-p 0.05, its own seed), or greedy with ``--greedy``. Each path runs in its own child
process; rounds alternate the paths and medians are printed as a Markdown table. The gap
between the decode loop and ``serve_load``'s figure for the same N is what the HTTP side and
the pipe to the worker cost.

Run: ``python -m benchmarks.batch_steps MODEL.gguf [--slots 16] [--tokens 128] [--ctx 2048]
[--threads N] [--gpu-layers N] [--flash-attention on|off] [--rounds 3] [--greedy]
[--llama-batched-bench PATH] [--profile FILE]`` (``--profile``: where the one-thread loop's
time goes, by function; time spent in llama.cpp counts in the Python function that called it;
``--flash-attention``: the worker's default, on, unless given)
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import os
import pstats
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from converter.child_process import run_in_child
from desktop.engine.flash_attention import flash_attention_on
from desktop.engine.hardware import cpu_model_name
from desktop.engine.worker.decode_loop import DecodeLoop, SendPiece
from desktop.engine.worker.loader import load_model
from desktop.engine.worker.protocol import Finished, GenerateRequest
from desktop.engine.worker.settings import LoadSettings, SamplingSettings

#: Short enough that 16 prompts fit one 512-token batch even in a byte-level vocabulary.
PROMPT = "Reply {n}: once"


def _load(args: argparse.Namespace) -> Any:
    settings = LoadSettings(
        ctx_tokens=args.ctx,
        threads=args.threads,
        gpu_layers=args.gpu_layers,
        parallel=args.slots,
        flash_attention=args.flash_attention,
    )
    llama, _info = load_model(
        Path(args.model), settings, on_progress=lambda _f: None, cancelled=lambda: False
    )
    return llama


def decode_only(_emit: Any, args: argparse.Namespace) -> float:
    """In a child: tokens/s of N-token batches after the prompts, no drawing at all."""
    import llama_cpp

    llama = _load(args)
    batch = llama_cpp.llama_batch_init(512, 0, 1)
    try:
        positions, last_tokens = [], []
        for seq in range(args.slots):  # each prompt in a batch of its own
            prompt = llama.tokenize(PROMPT.format(n=seq).encode(), add_bos=True)
            for pos, token in enumerate(prompt):
                _put(batch, pos, token, pos, seq, logits=pos == len(prompt) - 1)
            batch.n_tokens = len(prompt)
            _decode(llama_cpp, llama.ctx, batch)
            positions.append(len(prompt))
            last_tokens.append(prompt[-1])
        started = time.perf_counter()
        for _step in range(args.tokens - 1):
            for seq in range(args.slots):
                _put(batch, seq, last_tokens[seq], positions[seq], seq, logits=True)
                positions[seq] += 1
            batch.n_tokens = args.slots
            _decode(llama_cpp, llama.ctx, batch)
        return args.slots * (args.tokens - 1) / (time.perf_counter() - started)
    finally:
        llama_cpp.llama_batch_free(batch)
        llama.close()


def _put(batch: Any, row: int, token: int, pos: int, seq: int, *, logits: bool) -> None:
    batch.token[row], batch.pos[row], batch.n_seq_id[row] = token, pos, 1
    batch.seq_id[row][0], batch.logits[row] = seq, logits


def _decode(llama_cpp: Any, ctx: Any, batch: Any) -> None:
    if llama_cpp.llama_decode(ctx, batch) != 0:
        raise RuntimeError("llama_decode failed")
    llama_cpp.llama_get_logits_ith(ctx, -1)  # waits for the GPU, as reading logits does


def decode_loop(_emit: Any, args: argparse.Namespace, draw_threads: int | None) -> float:
    """In a child: tokens/s of Quantdesk's decode loop over the steps after the prompts."""
    llama = _load(args)

    def no_stream(_request_id: int) -> tuple[SendPiece, Callable[[], None]]:
        return (lambda _piece, _logprobs=(): None), (lambda: None)

    events: list[object] = []
    loop = DecodeLoop(
        llama,
        slots=args.slots,
        send=events.append,
        open_stream=no_stream,
        cancelled=lambda: False,
        draw_threads=draw_threads,
    )
    try:
        for seq in range(args.slots):
            if args.greedy:
                sampling = SamplingSettings.greedy(max_tokens=args.tokens)
            else:
                sampling = SamplingSettings(
                    temperature=0.8, top_k=40, top_p=0.95, min_p=0.05, seed=seq,
                    repeat_penalty=1.0, max_tokens=args.tokens,
                )  # fmt: skip
            loop.submit(GenerateRequest(PROMPT.format(n=seq), sampling, False, request_id=seq + 1))
        loop.step()  # the prompts, and every reply's first token
        profile = cProfile.Profile() if args.profile and draw_threads == 1 else None
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        while loop.busy:
            loop.step()
        elapsed = time.perf_counter() - started
        if profile is not None:  # native calls count in their Python caller's own time
            profile.disable()
            with args.profile.open("a") as out:
                pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(12)
    finally:
        loop.close()
        llama.close()
    finished = [event for event in events if isinstance(event, Finished)]
    if len(finished) != args.slots:
        raise RuntimeError(f"{args.slots - len(finished)} replies failed")
    # A reply that drew its end-of-text token early simply counts fewer tokens.
    return sum(event.timings.generated_tokens - 1 for event in finished) / elapsed


def batched_bench(binary: str, args: argparse.Namespace) -> float:
    """``S_TG`` of ``llama-batched-bench`` with N parallel sequences of T generated tokens."""
    command = [binary, "-m", str(args.model), "-c", str(args.ctx * args.slots), "-b", "512"]
    command += ["-npp", "12", "-ntg", str(args.tokens), "-npl", str(args.slots)]
    command += ["-ngl", str(999 if args.gpu_layers < 0 else args.gpu_layers)]
    fa = flash_attention_on(args.flash_attention)
    command += ["-fa", "on" if fa else "off", "--no-repack"]  # the worker's layout
    if args.threads:
        command += ["-t", str(args.threads), "-tb", str(args.threads)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = [line for line in output.splitlines() if re.match(r"\|\s+\d+\s+\|", line)]
    return float(rows[-1].split("|")[8])  # | PP | TG | B | N_KV | T_PP | S_PP | T_TG | S_TG |


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--ctx", type=int, default=2048, help="context tokens per slot")
    parser.add_argument("--threads", type=int)
    parser.add_argument(
        "--flash-attention",
        choices=["on", "off"],
        type=str,
        default=None,
        help="the worker's default (on) unless given",
    )
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--greedy", action="store_true")
    parser.add_argument("--llama-batched-bench", help="path of llama.cpp's llama-batched-bench")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--profile", type=Path, help="append a profile of the one-thread decode loop here"
    )
    args = parser.parse_args()
    args.flash_attention = None if args.flash_attention is None else args.flash_attention == "on"
    results: dict[str, list[float]] = {
        "batched decode only": [],
        "decode loop, 1 draw thread": [],
        "decode loop": [],
    }
    if args.llama_batched_bench:
        results["llama-batched-bench S_TG"] = []
    for _round in range(args.rounds):
        results["batched decode only"].append(run_in_child(decode_only, args, what="decode"))
        results["decode loop, 1 draw thread"].append(
            run_in_child(decode_loop, args, 1, what="decode loop, one draw thread")
        )
        results["decode loop"].append(run_in_child(decode_loop, args, None, what="decode loop"))
        if args.llama_batched_bench:
            bench = batched_bench(args.llama_batched_bench, args)
            results["llama-batched-bench S_TG"].append(bench)
        print({name: round(values[-1], 1) for name, values in results.items()}, flush=True)
    medians = {name: statistics.median(values) for name, values in results.items()}
    floor = medians["batched decode only"]
    sampling = "greedy" if args.greedy else "temperature 0.8, top-k 40, own seeds"
    print(
        f"\n{cpu_model_name()}, {os.cpu_count()} logical cores; "
        f"{datetime.date.today().isoformat()}; {args.model.name}, {args.slots} replies × "
        f"{args.tokens} tokens ({sampling}), threads {args.threads or 'auto'}, "
        f"GPU layers {args.gpu_layers}, flash attention "
        f"{'on' if flash_attention_on(args.flash_attention) else 'off'}, median of {args.rounds}\n"
    )
    print("| path | total tok/s | × batched decode only |\n|---|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.1f} | {value / floor:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"medians": medians, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
