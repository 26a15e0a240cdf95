"""What log-probabilities and grammars cost a reply, in Quantdesk's worker.

One worker, one model; the same greedy prompt is answered in alternating rounds

* plainly (the path every reply takes when it asks for nothing more);
* with ``logprobs`` (each token's log-probability and 5 alternatives: a log-softmax over the
  vocabulary per token);
* bound to a grammar that allows any text (llama.cpp's grammar sampler checks every
  candidate token against it at each step, so this is its cost without changing the reply);
* bound to a JSON schema (the converter's grammar: what the API's ``response_format`` costs).

Printed: median generation tokens/s (the worker's own figure, first to last token) and CPU
milliseconds per token of both processes, as a Markdown table with the ratio to the plain
reply. The grammar-bound replies stop when their grammar is complete, so their token counts
are printed too.

Run: ``python -m benchmarks.reply_options_cost MODEL.gguf [--tokens 64] [--rounds 3]
[--threads N]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time
from pathlib import Path
from typing import Any

import psutil

from desktop.engine.hardware import cpu_model_name
from desktop.engine.worker import (
    FormatKind,
    InferenceWorker,
    LoadSettings,
    ReplyFormat,
    SamplingSettings,
    json_schema_format,
)

PROMPT = "The history of the harbor town begins with"
ANY_TEXT = ReplyFormat(FormatKind.GRAMMAR, "root ::= [^\\x00]*")
SCHEMA = {
    "type": "object",
    "properties": {
        "town": {"type": "string", "maxLength": 200},
        "founded": {"type": "integer"},
        "notes": {"type": "array", "items": {"type": "string", "maxLength": 200}},
    },
    "required": ["town", "founded", "notes"],
}
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "logprobs, 5 alternatives": {"logprobs": 5, "on_logprobs": lambda _figures: None},
    "grammar allowing any text": {"reply_format": ANY_TEXT},
    "JSON schema": {"reply_format": json_schema_format(SCHEMA)},
}

Figures = tuple[float, float, int]  # tokens/s, CPU ms per token, tokens


def measure(worker: InferenceWorker, tokens: int, options: dict[str, Any]) -> Figures:
    sampling = SamplingSettings.greedy(max_tokens=tokens)
    child = psutil.Process(worker.pid)
    child_cpu, own_cpu = sum(child.cpu_times()[:2]), time.process_time()
    reply = worker.complete(PROMPT, sampling, on_token=lambda _piece: None, **options)
    cpu = sum(child.cpu_times()[:2]) - child_cpu + time.process_time() - own_cpu
    generated = max(reply.generated_tokens, 1)
    return reply.generation_tokens_per_second, cpu * 1000 / generated, reply.generated_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    results: dict[str, list[Figures]] = {name: [] for name in VARIANTS}
    with InferenceWorker() as worker:
        worker.load(args.model, LoadSettings(ctx_tokens=1024, threads=args.threads))
        measure(worker, 8, {})  # warm-up
        for _round in range(args.rounds):
            for name, options in VARIANTS.items():
                results[name].append(measure(worker, args.tokens, options))
            print({name: values[-1] for name, values in results.items()}, flush=True)
    speed = {name: statistics.median(v[0] for v in values) for name, values in results.items()}
    cpu = {name: statistics.median(v[1] for v in values) for name, values in results.items()}
    print(
        f"\n{cpu_model_name()}, {os.cpu_count()} logical cores; "
        f"{datetime.date.today().isoformat()}; {args.model.name}, greedy, up to "
        f"{args.tokens} tokens, threads {args.threads or 'auto'}, median of {args.rounds}\n"
    )
    print("| reply | tokens | tok/s | × plain | CPU ms/token |\n|---|---:|---:|---:|---:|")
    for name, values in results.items():
        count = statistics.median(v[2] for v in values)
        ratio = speed[name] / speed["plain"]
        print(f"| {name} | {count:.0f} | {speed[name]:.1f} | {ratio:.2f} | {cpu[name]:.1f} |")


if __name__ == "__main__":
    main()
