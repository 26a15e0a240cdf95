"""Streaming overhead of the inference worker against llama-cpp-python in one process.

Builds a random-weight llama model with gguf-py (~125M parameters, F16 or quantized), then
generates greedily from the same prompts two ways, run after run in alternation (and
alternating which goes first) so drifting machine load hits both alike: (1) directly in this
process with ``Llama.generate`` and a per-token detokenize (the leanest public
llama-cpp-python loop), and (2) through ``InferenceWorker.complete`` (child process, pipe,
text pieces). Each run uses a different prompt so neither path reuses the previous run's KV
cache. Prints medians as a Markdown table, with the CPU time each reply cost in all processes
(less sensitive to other load on the machine than wall-clock speed).

Run: ``python -m benchmarks.worker_overhead [--runs N] [--tokens N] [--threads N] [--level Q4_K_M]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from converter.progress import run_job
from converter.quantize import quantize_gguf
from desktop.engine.hardware import cpu_model_name
from desktop.engine.llama_loading import open_llama
from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

SHAPE = TinyModelShape(n_layer=12, n_embd=768, n_head=12, n_head_kv=4, n_ff=2048, n_vocab=32000)
CTX_TOKENS = 1024
PROMPT_WORDS = ("apple", "river", "stone", "cloud", "maple", "ember", "quartz", "harbor", "violet")


@dataclass(frozen=True, slots=True)
class Run:
    ttft_seconds: float
    tokens: int
    decode_tokens_per_second: float
    #: CPU time the whole reply cost (both processes for the worker): robust to machine load.
    cpu_seconds: float


def _prompt(run: int) -> str:
    word = PROMPT_WORDS[run % len(PROMPT_WORDS)]
    return f"{word} {run}: the quick brown fox jumps over the lazy dog " * 4


def direct_run(llama: Any, prompt: str, max_tokens: int) -> Run:
    """Greedy generation with llama-cpp-python's own loop, timed like the worker's."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    cpu_started = time.process_time()
    started = time.perf_counter()
    tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True)
    stamps: list[float] = []
    for token in llama.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=True):
        stamps.append(time.perf_counter())
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        llama.detokenize([token])
        if len(stamps) >= max_tokens:
            break
    cpu = time.process_time() - cpu_started
    return Run(stamps[0] - started, len(stamps), (len(stamps) - 1) / (stamps[-1] - stamps[0]), cpu)


def worker_run(worker: InferenceWorker, prompt: str, max_tokens: int) -> Run:
    """The same through the worker, timed in the caller's process (what a GUI sees)."""
    stamps: list[float] = []
    child = psutil.Process(worker.pid)
    cpu_started = time.process_time() + _cpu_seconds(child)
    started = time.perf_counter()
    reply = worker.complete(
        prompt,
        SamplingSettings.greedy(max_tokens=max_tokens),
        on_token=lambda _piece: stamps.append(time.perf_counter()),
    )
    cpu = time.process_time() + _cpu_seconds(child) - cpu_started
    sampled = reply.generated_tokens + (reply.stop_reason.value == "eos")
    return Run(stamps[0] - started, sampled, (sampled - 1) / (stamps[-1] - stamps[0]), cpu)


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def build_model(folder: Path, level: str | None, shape: TinyModelShape) -> Path:
    f16 = write_tiny_gguf(folder / "bench-f16.gguf", shape, seed=1)
    if level is None:
        return f16
    return run_job(quantize_gguf(f16, level, out_path=folder / f"bench-{level}.gguf")).path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=128, help="tokens generated per run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--level", help="quantize the model to this level first (e.g. Q4_K_M)")
    parser.add_argument(
        "--tiny", action="store_true", help="the 1M-parameter test model: per-token cost dominates"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(Path(tmp), args.level, TinyModelShape() if args.tiny else SHAPE)
        llama = open_llama(
            model, n_ctx=CTX_TOKENS, n_threads=args.threads, n_threads_batch=args.threads
        )
        direct: list[Run] = []
        through_worker: list[Run] = []
        settings = LoadSettings(ctx_tokens=CTX_TOKENS, threads=args.threads)
        with InferenceWorker() as worker:
            info = worker.load(model, settings)
            direct_run(llama, _prompt(99), 8)  # warm both up (page faults, first graph)
            worker_run(worker, _prompt(98), 8)
            for run in range(args.runs):  # alternate which goes first, too
                if run % 2:
                    through_worker.append(worker_run(worker, _prompt(run), args.tokens))
                direct.append(direct_run(llama, _prompt(run), args.tokens))
                if not run % 2:
                    through_worker.append(worker_run(worker, _prompt(run), args.tokens))
        llama.close()

    def median(runs: list[Run], field: str) -> float:
        return statistics.median(getattr(r, field) for r in runs)

    print(
        f"Model: {info.model.n_params / 1e6:.0f}M parameters, {info.model.file_type}, "
        f"{info.model.size_bytes / 2**20:.0f} MiB; {args.threads} threads, {CTX_TOKENS}-token "
        f"context, greedy, {args.tokens} tokens x {args.runs} runs (medians)"
    )
    print(f"Machine: {cpu_model_name()}, {os.cpu_count()} logical CPUs; {datetime.date.today()}")
    print()
    print("| path | time to first token | generation tok/s | CPU per reply | tokens/run |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in (
        ("llama-cpp-python in process", direct),
        ("InferenceWorker (child)", through_worker),
    ):
        print(
            f"| {name} | {median(runs, 'ttft_seconds') * 1000:.1f} ms"
            f" | {median(runs, 'decode_tokens_per_second'):.2f}"
            f" | {median(runs, 'cpu_seconds') * 1000:.0f} ms"
            f" | {median(runs, 'tokens'):.0f} |"
        )
    ratio = median(through_worker, "decode_tokens_per_second") / median(
        direct, "decode_tokens_per_second"
    )
    ttft_delta = median(through_worker, "ttft_seconds") - median(direct, "ttft_seconds")
    print()
    cpu_ratio = median(direct, "cpu_seconds") / median(through_worker, "cpu_seconds")
    print(
        f"Worker / direct generation speed: {ratio:.3f}; time to first token difference: "
        f"{ttft_delta * 1000:+.1f} ms; direct / worker CPU per reply: {cpu_ratio:.3f}"
    )


if __name__ == "__main__":
    main()
