"""Single-stream generation speed: Quantdesk's worker against llama.cpp's own yardsticks.

On one GGUF with the same threads, GPU layers, flash-attention switch and weight layout
(``--repack 0``: Quantdesk turns llama.cpp's extra buffer types off), measures

* ``llama-bench -p 0 -n TOKENS`` (the tg figure llama.cpp publishes), when its path is given,
  loading the model as it does by default (the file mapped); and, where Linux offers huge
  pages, once more with the weights read into memory that malloc asks huge pages for
  (``-lm none`` and glibc's tunable), as the worker loads them there
  (:mod:`converter.huge_pages`);
* the plain llama-cpp-python eval loop: one ``Llama.eval`` per token, no sampling; and the
  same loop with the persistent CPU thread pool the worker attaches (llama-cpp-python
  attaches none, llama.cpp's tools do). This loop never reads the logits, so on a GPU it
  builds each graph while the last one still runs: it can outrun llama-bench (which waits for
  every token) and any loop that draws tokens;
* ``Llama.generate``, greedy (llama-cpp-python's own loop, logits copied into numpy);
* ``InferenceWorker.complete``, greedy (Quantdesk's native decode loop in its child process,
  as chat, compare and the API use it), its own generation figure;
* (only when asked for, ``--path``) the worker started afresh for each round;
* the same decode loop driven directly in a plain child, without the worker's process, pipe
  and text batching around it: what separates the two is the worker's plumbing, what
  separates this one from the eval loop is the loop's own work per token; on a GPU, that loop
  once more in the CPU's order (each token spelled out before the next decode is queued, not
  while it runs), showing what the overlap gains; and (only when asked for) once more with
  greedy tokens drawn in the decode's own graph instead of on the host (``decode loop, device
  draw``), showing what that gains or costs.

After the rounds, one more reply through the decode loop alone, and the eval loop, are timed
by phase, per token:
the host time inside ``llama_decode`` (building and queueing the graph), the wait for the
logits, and the gap from the logits' arrival to the next ``llama_decode`` (the loop's own work
while the device idles; on a GPU, what separates the loop from the eval loop), with what part
of that gap is the argmax and the spelling-out.

Besides tokens per second, the CPU time per token of each Python path (for the worker, both
of its processes): on a machine shared with other work that figure moves far less than
wall-clock speed.

Rounds alternate the Python paths and llama-bench (one repetition per round), each round in
an order turned one place from the last, so drifting machine load and a place in the round
hit all alike; medians are printed as a Markdown table with the ratios to llama-bench and to
the eval loop. Beside them, each path's ratio to llama-bench (and to the eval loop and the
decode loop alone, when measured) paired round by round (the two ran seconds apart): the
median of those ratios, and the range the true median lies in with 90% confidence (order
statistics of the rounds, no assumption about their distribution). On a VM whose speed moves
by 10% from minute to minute, that range says whether a ratio is clear of a target or
within the noise.

Run: ``python -m benchmarks.decode_speed MODEL.gguf [--llama-bench PATH] [--tokens 128]
[--rounds 3] [--threads N] [--gpu-layers N]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from converter.child_process import run_in_child
from converter.huge_pages import huge_pages_offered, with_huge_page_tunable
from desktop.engine.flash_attention import flash_attention_on
from desktop.engine.hardware import cpu_model_name
from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings

BENCH = "llama-bench"
BENCH_HUGE_PAGES = "llama-bench, huge pages"
PROMPT = "The history of the harbor town begins with"
CTX_TOKENS = 1024


def _open(path: str, threads: int | None, gpu_layers: int, *, pool: bool = False) -> Any:
    from desktop.engine.llama_loading import open_llama

    return open_llama(
        path,
        n_ctx=CTX_TOKENS,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=gpu_layers,
        flash_attn=flash_attention_on(None),  # the worker's default
        # By default llama-cpp-python as it comes: no persistent CPU thread pool (the worker
        # has one; the "eval loop + pool" path shows what the pool alone changes).
        cpu_threadpool=pool,
    )


Speed = tuple[float, float]  # tokens per second, CPU milliseconds per token


def eval_loop(
    _emit: Any, path: str, threads: int | None, gpu_layers: int, tokens: int, pool: bool = False
) -> Speed:
    """In a child: tokens/s of single-token ``eval`` calls after the prompt, no sampling."""
    llama = _open(path, threads, gpu_layers, pool=pool)
    try:
        prompt = llama.tokenize(PROMPT.encode(), add_bos=True)
        llama.eval(prompt)
        token = prompt[-1]
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(tokens):
            llama.eval([token])
        cpu_ms = (time.process_time() - cpu) * 1000 / tokens
        return tokens / (time.perf_counter() - started), cpu_ms
    finally:
        llama.close()


def generate_loop(
    _emit: Any, path: str, threads: int | None, gpu_layers: int, tokens: int
) -> Speed:
    """In a child: ``Llama.generate`` greedy, timed from the first to the last token."""
    llama = _open(path, threads, gpu_layers)
    try:
        prompt = llama.tokenize(PROMPT.encode(), add_bos=True)
        times = []
        cpu = time.process_time()
        for _token in llama.generate(prompt, temp=0.0, repeat_penalty=1.0, reset=True):
            times.append(time.perf_counter())
            if len(times) == tokens:
                break
        cpu_ms = (time.process_time() - cpu) * 1000 / tokens  # the prompt's share included
        return (len(times) - 1) / (times[-1] - times[0]), cpu_ms
    finally:
        llama.close()


def single_reply_loop(
    llama: Any,
    *,
    send: Callable[[object], None] = lambda _event: None,
    overlap: bool | None = None,
    draw_on_device: bool = False,
    text_to: Callable[[object], None] | None = None,
) -> Any:
    """The worker's decode loop on ``llama`` with one slot, its text going nowhere
    (``overlap``, ``draw_on_device``: as ``DecodeLoop`` takes them; overlap None, its own
    choice). ``text_to``: the text goes there instead, in the worker's 20 ms batches."""
    from desktop.engine.worker.child import CoalescedStream
    from desktop.engine.worker.decode_loop import DecodeLoop

    def open_stream(_request_id: int) -> Any:
        if text_to is None:
            return (lambda _piece, _logprobs=(): None), (lambda: None)
        stream = CoalescedStream(text_to)
        return stream, stream.flush

    return DecodeLoop(
        llama,
        slots=1,
        send=send,
        open_stream=open_stream,
        cancelled=lambda: False,
        overlap=overlap,
        draw_on_device=draw_on_device,
    )


def loop_in_process(
    _emit: Any,
    path: str,
    load: LoadSettings,
    tokens: int,
    overlap: bool | None = None,
    replies: int = 1,
    draw_on_device: bool = False,
    piped: bool = False,
) -> Speed:
    """In a child: the worker's decode loop without the worker around it, greedy (the median
    of ``replies`` replies). ``piped``: its text goes to the parent process in the worker's
    20 ms batches, through the pipe the parent reads (as the worker's text does)."""
    from desktop.engine.worker.loader import load_model
    from desktop.engine.worker.protocol import Finished, GenerateRequest

    llama, _info = load_model(
        Path(path), load, on_progress=lambda _fraction: None, cancelled=lambda: False
    )
    events: list[object] = []
    loop = single_reply_loop(
        llama,
        send=events.append,
        overlap=overlap,
        draw_on_device=draw_on_device,
        text_to=_emit if piped else None,
    )
    try:
        # A short reply first, as the worker gets one: llama.cpp makes its CUDA graphs on
        # the first tokens, which the measured reply should not pay for.
        loop.submit(GenerateRequest(PROMPT, SamplingSettings.greedy(max_tokens=8), False))
        while loop.busy:
            loop.step()
        speeds: list[Speed] = []
        for _reply in range(replies):
            events.clear()
            request = GenerateRequest(PROMPT, SamplingSettings.greedy(max_tokens=tokens), False)
            cpu = time.process_time()
            loop.submit(request)
            while loop.busy:
                loop.step()
            cpu_ms = (time.process_time() - cpu) * 1000 / tokens  # the prompt's share included
            (finished,) = [event for event in events if isinstance(event, Finished)]
            if finished.timings.generated_tokens < tokens:
                raise RuntimeError("the model ended its reply early; use a model that keeps going")
            speeds.append((finished.timings.generation_tokens_per_second, cpu_ms))
        return median_speed(speeds)
    finally:
        loop.close()
        llama.close()


class _PhaseClock:
    """Timestamps around the decode loop's calls (a few wrappers, well under a µs each)."""

    def __init__(self, loop: Any) -> None:
        import llama_cpp

        self.decode_us: list[float] = []
        self.wait_us: list[float] = []
        self.gap_us: list[float] = []
        self.spell_us: list[float] = []
        self._logits_at: float | None = None
        clock = self

        class TimedLlama:  # the module, with llama_decode timed
            def __getattr__(self, name: str) -> Any:
                return getattr(llama_cpp, name)

            @staticmethod
            def llama_decode(ctx: Any, batch: Any) -> int:
                started = time.perf_counter()
                if clock._logits_at is not None:
                    clock.gap_us.append((started - clock._logits_at) * 1e6)
                    clock._logits_at = None
                try:
                    return llama_cpp.llama_decode(ctx, batch)
                finally:
                    clock.decode_us.append((time.perf_counter() - started) * 1e6)

        loop._c = TimedLlama()
        # The wait for the decode ends with its logits, or with the token the device drew.
        loop._logits.row = self._timed_wait(loop._logits.row)
        loop._device_draws.token = self._timed_wait(loop._device_draws.token)
        spell = loop._spell_drawn

        def timed_spell() -> None:
            started = time.perf_counter()
            spell()
            clock.spell_us.append((time.perf_counter() - started) * 1e6)

        loop._spell_drawn = timed_spell

    def _timed_wait(self, fetch: Callable[[int], Any]) -> Callable[[int], Any]:
        def timed(index: int) -> Any:
            started = time.perf_counter()
            result = fetch(index)
            self._logits_at = time.perf_counter()
            self.wait_us.append((self._logits_at - started) * 1e6)
            return result

        return timed

    def medians(self) -> dict[str, float]:
        return {
            name: statistics.median(values[1:])  # the prompt's step aside
            for name, values in (
                ("llama_decode call", self.decode_us),
                ("wait for the logits", self.wait_us),
                ("logits to next decode", self.gap_us),
                ("spelling out", self.spell_us),
            )
            if len(values) > 1
        }


def loop_phases(_emit: Any, path: str, load: LoadSettings, tokens: int) -> dict[str, float]:
    """In a child: median µs per token of the decode loop's phases (see the module's notes)."""
    from desktop.engine.worker.loader import load_model
    from desktop.engine.worker.protocol import GenerateRequest

    llama, _info = load_model(
        Path(path), load, on_progress=lambda _fraction: None, cancelled=lambda: False
    )
    loop = single_reply_loop(llama)
    try:
        clock = _PhaseClock(loop)
        loop.submit(GenerateRequest(PROMPT, SamplingSettings.greedy(max_tokens=tokens), False))
        while loop.busy:
            loop.step()
        return clock.medians()
    finally:
        loop.close()
        llama.close()


def eval_phases(_emit: Any, path: str, load: LoadSettings, tokens: int) -> dict[str, float]:
    """In a child: the eval loop's time inside ``llama_decode`` and between two calls, on the
    worker's loading. llama-cpp-python 0.3.36's ``eval`` reads no logits (its sampling reads
    them later, when asked), so nothing waits for a decode to finish before the next is
    queued: on a GPU llama.cpp then waits inside the next ``llama_decode``, for the inputs it
    is about to overwrite, and the host builds the next graph while the GPU still computes."""
    import llama_cpp.llama_cpp as binding

    from desktop.engine.worker.loader import load_model

    llama, _info = load_model(
        Path(path), load, on_progress=lambda _fraction: None, cancelled=lambda: False
    )
    decode = binding.llama_decode
    decode_us: list[float] = []
    gap_us: list[float] = []
    returned: list[float] = []

    def timed_decode(ctx: Any, batch: Any) -> int:
        started = time.perf_counter()
        if returned:
            gap_us.append((started - returned.pop()) * 1e6)
        try:
            return decode(ctx, batch)
        finally:
            returned.append(time.perf_counter())
            decode_us.append((returned[-1] - started) * 1e6)

    binding.llama_decode = timed_decode
    try:
        prompt = llama.tokenize(PROMPT.encode(), add_bos=True)
        llama.eval(prompt)
        for _ in range(tokens):
            llama.eval([prompt[-1]])
    finally:
        binding.llama_decode = decode
        llama.close()
    return {
        "llama_decode call": statistics.median(decode_us[1:]),
        "between two calls": statistics.median(gap_us[1:]),
    }


def median_speed(speeds: list[Speed]) -> Speed:
    """The median speed of several replies, and their median CPU time per token."""
    return (
        statistics.median(speed for speed, _ in speeds),
        statistics.median(cpu for _, cpu in speeds),
    )


def worker_replies_speed(worker: InferenceWorker, tokens: int, replies: int) -> Speed:
    """:func:`worker_speed`, the median of ``replies`` replies."""
    return median_speed([worker_speed(worker, tokens) for _ in range(replies)])


def worker_speed(worker: InferenceWorker, tokens: int) -> Speed:
    """The worker's own generation figure, and the CPU the reply cost both processes."""
    sampling = SamplingSettings.greedy(max_tokens=tokens)
    child = psutil.Process(worker.pid)
    child_cpu, own_cpu = sum(child.cpu_times()[:2]), time.process_time()
    reply = worker.complete(PROMPT, sampling, on_token=lambda _piece: None)
    cpu = sum(child.cpu_times()[:2]) - child_cpu + time.process_time() - own_cpu
    if reply.generated_tokens < tokens:
        raise RuntimeError("the model ended its reply early; use a model that keeps going")
    return reply.generation_tokens_per_second, cpu * 1000 / tokens


def fresh_worker_speed(model: Path, load: LoadSettings, tokens: int, replies: int) -> Speed:
    """The worker's figure from a worker started for this round (after a warm-up reply):
    beside the long-lived worker, whether a process that has lived long is slower."""
    with InferenceWorker() as worker:
        worker.load(model, load)
        worker_speed(worker, 8)
        return worker_replies_speed(worker, tokens, replies)


def median_interval(values: list[float], confidence: float = 0.9) -> tuple[float, float]:
    """The distribution-free confidence interval of the median of ``values``: the order
    statistics k and n+1-k, k the largest with P(Binomial(n, 1/2) < k) <= (1 - confidence)/2.
    With 7 values or fewer that is the whole range, at 90%."""
    ordered = sorted(values)
    n = len(ordered)
    tail = (1 - confidence) / 2
    below, k = 0.0, 0  # below = P(Binomial(n, 1/2) < k + 1) once the loop moves k up
    while k < n // 2:
        below += math.comb(n, k) / 2**n
        if below > tail:
            break
        k += 1
    if k == 0:
        return ordered[0], ordered[-1]
    return ordered[k - 1], ordered[n - k]


def paired_ratios(runs: list[float], bench_runs: list[float]) -> list[float]:
    """Each round's figure over the llama-bench repetition of the same round."""
    return [value / bench for value, bench in zip(runs, bench_runs, strict=True)]


def print_paired(rounds: dict[str, list[float]], reference: str) -> None:
    """The table of every path's speed over ``reference``'s, paired round by round."""
    print(
        f"\nPaired with {reference} round by round:\n\n"
        "| path | median ratio | 90% interval of the median | rounds under 0.98 |\n"
        "|---|---|---|---|"
    )
    for name, values in rounds.items():
        if name == reference or not values:
            continue
        ratios = paired_ratios(values, rounds[reference])
        low, high = median_interval(ratios)
        under = sum(ratio < 0.98 for ratio in ratios)
        print(
            f"| {name} | {statistics.median(ratios):.3f} | {low:.3f}–{high:.3f} "
            f"| {under} of {len(ratios)} |"
        )


def llama_bench(
    binary: str,
    path: str,
    threads: int | None,
    gpu_layers: int,
    tokens: int,
    *,
    huge_pages: bool = False,
) -> float:
    """llama-bench's tg figure; ``huge_pages``: the weights read into memory that malloc asks
    huge pages for (``-lm none`` and glibc's tunable), as the worker loads them on Linux."""
    command = [binary, "-m", path, "-p", "0", "-n", str(tokens), "-r", "1", "-o", "json"]
    layers = 999 if gpu_layers < 0 else gpu_layers  # llama-bench's way of saying "all"
    fa = "1" if flash_attention_on(None) else "0"
    command += ["-ngl", str(layers), "-fa", fa, "--repack", "0"]
    if threads:
        command += ["-t", str(threads)]
    env = dict(os.environ)
    if huge_pages:
        command += ["-lm", "none"]
        env["GLIBC_TUNABLES"] = with_huge_page_tunable(env.get("GLIBC_TUNABLES", ""))
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    return float(json.loads(output)[0]["avg_ts"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--llama-bench", help="path of llama.cpp's llama-bench binary")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--replies",
        type=int,
        default=1,
        help="replies per round for the worker and decode-loop paths (their median counts)",
    )
    parser.add_argument("--threads", type=int)
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--path",
        action="append",
        dest="paths",
        help="a path to measure, by its name in the table; repeatable (default: all but "
        "'worker, fresh', 'decode loop, device draw' and 'decode loop, piped text')",
    )
    parser.add_argument(
        "--no-phases", action="store_true", help="skip timing the loops by phase afterwards"
    )
    args = parser.parse_args()
    path = str(args.model)
    common = (path, args.threads, args.gpu_layers, args.tokens)
    load = LoadSettings(
        ctx_tokens=CTX_TOKENS,
        threads=args.threads,
        gpu_layers=args.gpu_layers,
    )

    def loop_path(
        overlap: bool | None = None, *, draw_on_device: bool = False, piped: bool = False
    ) -> Callable[[], Speed]:
        """The decode loop alone, in a child (its piped text, if any, is dropped here)."""
        return lambda: run_in_child(
            loop_in_process,
            path,
            load,
            args.tokens,
            overlap,
            args.replies,
            draw_on_device,
            piped,
            what="decode loop",
            on_event=lambda _text: None,
        )

    paths: dict[str, Callable[[], Speed]] = {
        "eval loop": lambda: run_in_child(eval_loop, *common, what="eval loop"),
        "eval loop + pool": lambda: run_in_child(eval_loop, *common, True, what="eval loop"),
        "Llama.generate": lambda: run_in_child(generate_loop, *common, what="generate loop"),
        "worker": lambda: worker_replies_speed(worker, args.tokens, args.replies),
        "worker, fresh": lambda: fresh_worker_speed(args.model, load, args.tokens, args.replies),
        "decode loop, no worker": loop_path(),
    }
    if args.gpu_layers:
        paths["decode loop, CPU order"] = loop_path(overlap=False)
    paths["decode loop, device draw"] = loop_path(draw_on_device=True)
    paths["decode loop, piped text"] = loop_path(piped=True)
    if args.paths:
        chosen = args.paths
        unknown = [name for name in chosen if name not in paths]
        if unknown:
            parser.error(f"unknown paths {unknown}; known: {list(paths)}")
        paths = {name: paths[name] for name in chosen}
    else:
        for asked_only in ("worker, fresh", "decode loop, device draw", "decode loop, piped text"):
            del paths[asked_only]
    results: dict[str, list[Speed]] = {name: [] for name in paths}
    # llama-bench takes its turn in every round too; where the worker's weights get huge
    # pages, llama-bench loads once as it does by default (mapped) and once as the worker.
    benches = [BENCH] if args.llama_bench else []
    if benches and args.gpu_layers >= 0 and huge_pages_offered():
        benches.append(BENCH_HUGE_PAGES)
    bench_rounds: dict[str, list[float]] = {name: [] for name in benches}
    with InferenceWorker() as worker:
        if "worker" in paths:
            worker.load(args.model, load)
            worker_speed(worker, 8)  # warm-up
        turns: list[str] = [*paths, *benches]
        for round_number in range(args.rounds):
            shift = round_number % len(turns)
            for name in turns[shift:] + turns[:shift]:
                if name in bench_rounds:
                    huge = name == BENCH_HUGE_PAGES
                    bench_rounds[name].append(
                        llama_bench(args.llama_bench, *common, huge_pages=huge)
                    )
                else:
                    results[name].append(paths[name]())
            latest = {name: values[-1] for name, values in results.items()}
            print(latest, {name: values[-1] for name, values in bench_rounds.items()}, flush=True)
    medians = {name: statistics.median(v[0] for v in values) for name, values in results.items()}
    cpu = {name: statistics.median(v[1] for v in values) for name, values in results.items()}
    for name, values in bench_rounds.items():
        medians[name] = statistics.median(values)
    bench = medians.get(BENCH)
    print(
        f"\n{cpu_model_name()}, {os.cpu_count()} logical cores; "
        f"{datetime.date.today().isoformat()}; "
        f"{args.model.name}, tg{args.tokens}, threads {args.threads or 'auto'}, "
        f"GPU layers {args.gpu_layers}, median of {args.rounds} rounds "
        f"(worker and loop paths: of each round's {args.replies} replies)\n"
    )
    rounds = {name: [v[0] for v in values] for name, values in results.items()}
    rounds.update(bench_rounds)
    print(
        "| path | tok/s | rounds' range | × llama-bench | × eval loop | CPU ms/token |\n"
        "|---|---|---|---|---|---|"
    )
    for name, value in medians.items():
        vs_bench = f"{value / bench:.3f}" if bench else "—"
        cpu_ms = f"{cpu[name]:.2f}" if name in cpu else "—"
        eval_loop_speed = medians.get("eval loop")
        vs_loop = f"{value / eval_loop_speed:.3f}" if eval_loop_speed else "—"
        spread = f"{min(rounds[name]):.1f}–{max(rounds[name]):.1f}"
        print(f"| {name} | {value:.1f} | {spread} | {vs_bench} | {vs_loop} | {cpu_ms} |")
    if args.rounds > 1:
        for reference in (BENCH, BENCH_HUGE_PAGES, "eval loop", "decode loop, no worker"):
            if rounds.get(reference):
                print_paired(rounds, reference)
    phases = {}
    if not args.no_phases:
        phases["decode loop"] = run_in_child(
            loop_phases, path, load, args.tokens, what="loop phases"
        )
        phases["eval loop"] = run_in_child(eval_phases, path, load, args.tokens, what="phases")
    if phases:
        print("\nMedian µs per token, by phase:")
    for name, figures in phases.items():
        print(f"- {name}: " + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()))
    if args.json:
        data = {
            "loop phases us": phases,
            "medians": medians,
            "cpu_ms_per_token": cpu,
            "runs": results,
            "llama-bench runs": bench_rounds.get(BENCH, []),
            "llama-bench huge-page runs": bench_rounds.get(BENCH_HUGE_PAGES, []),
        }
        args.json.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
