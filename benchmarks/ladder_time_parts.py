"""The cost of each part of measuring a ladder, one thread, as CPU time: the time model's inputs.

    python -m benchmarks.ladder_time_parts FILE.gguf … [--repeats 3]

The first file is the reference. For each file, in this process and on one thread, with the
app's own loading and measuring code: loading the model; a 512-token prompt that asks for one
position's logits (the speed run's); a 512-token chunk of the bundled text that asks for its
scored half's logits (the quality pass's); 64 single-token decodes; then, on that chunk, the
reference's distribution work (writing the store) or a candidate's (comparing with it). A
measuring child process's start is timed too (the CPU the child used before it ran anything).

Every figure is the calling thread's CPU time (``time.thread_time``), the least of
``--repeats`` runs: with one thread llama.cpp computes on the caller, so the figure is the work
itself and barely moves when other processes share the machine, which wall time does not.
Each is divided by the quantity ``desktop/engine/measure/time_estimate.py`` counts for it and
printed beside the coefficient the model uses (batched evaluation, priced per weight type by
the model's table: as measured / predicted).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from converter.child_process import run_in_child
from desktop.engine.hardware import cpu_model_name
from desktop.engine.measure import time_estimate
from desktop.engine.measure.eval_text import ChunkPlan, chunk_tokens, load_eval_text
from desktop.engine.measure.file_facts import FileFacts, read_file_facts
from desktop.engine.measure.loaded_model import bos_token, close_measured, open_for_measuring
from desktop.engine.measure.quality import _compare_rows, _scored_logits
from desktop.engine.measure.reference_store import ROWS_PER_BLOCK, ReferenceStore
from desktop.engine.measure.speed import _time_generation, _time_prompt

CTX, GEN = 512, 64


def least_cpu_seconds(repeats: int, work: Callable[[], Any]) -> float:
    """The least thread CPU time of ``repeats`` runs of ``work``."""
    times = []
    for _ in range(repeats):
        started = time.thread_time()
        work()
        times.append(time.thread_time() - started)
    return min(times)


def _child_cpu(_emit: Callable[[Any], None]) -> float:
    return time.process_time()


def _child_start() -> tuple[float, float]:
    """Wall and the child's own CPU seconds of starting a measuring child (it does nothing)."""
    started = time.perf_counter()
    cpu = run_in_child(_child_cpu, what="a measuring child")
    return time.perf_counter() - started, cpu


def measure_file(
    facts: FileFacts, store: ReferenceStore, reference: bool, repeats: int
) -> dict[str, float]:
    opened: list[Any] = []

    def load() -> None:
        llm = open_for_measuring(
            facts.path, n_ctx=CTX, n_batch=CTX, n_ubatch=CTX, n_threads=1, n_threads_batch=1
        )
        opened.append(llm)

    seconds = {"load": least_cpu_seconds(repeats, load)}
    llm = opened.pop()
    for extra in opened:
        close_measured(extra)
    try:
        rng = np.random.default_rng(1)
        prompt = [int(t) for t in rng.integers(0, llm.n_vocab(), CTX)]
        single = [int(t) for t in rng.integers(0, llm.n_vocab(), GEN)]
        text = load_eval_text().text
        tokens = llm.tokenize(text.encode(), add_bos=True, special=False)
        chunk = chunk_tokens(tokens, ChunkPlan(CTX, 1), bos_token(llm))[0]
        seconds["prompt"] = least_cpu_seconds(repeats, lambda: _time_prompt(llm, prompt))
        seconds["chunk"] = least_cpu_seconds(repeats, lambda: _scored_logits(llm, chunk))
        seconds["single"] = least_cpu_seconds(repeats, lambda: _time_generation(llm, single))
        logits = _scored_logits(llm, chunk)
    finally:
        close_measured(llm)
    targets = np.array(chunk[CTX // 2 + 1 :])
    if reference:
        seconds["distributions"] = least_cpu_seconds(
            repeats, lambda: store.write_chunk(0, chunk, logits, targets)
        )
        store.finish()
    else:
        reader = ReferenceStore.open(store.folder)

        def compare() -> None:
            for start in range(0, reader.n_positions, ROWS_PER_BLOCK):
                rows = slice(start, start + ROWS_PER_BLOCK)
                _compare_rows(logits[rows], targets[rows], reader, 0, rows)

        seconds["distributions"] = least_cpu_seconds(repeats, compare)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {cpu_model_name()}; one thread, thread CPU time, least of {args.repeats}")
    wall, cpu = min(_child_start() for _ in range(args.repeats))
    print(f"child start: {wall:.2f} s wall, {cpu:.2f} s CPU (model: {time_estimate._CHILD_S})")
    facts = [read_file_facts(path) for path in args.files]
    body, logit, loads = [], [], []
    per_entry: dict[str, list[float]] = {"ref": [], "cmp": []}
    per_weight: list[float] = []
    per_byte: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        store = ReferenceStore.create(Path(folder), 1, CTX - 1 - CTX // 2, facts[0].vocab_size, CTX)
        for index, item in enumerate(facts):
            s = measure_file(item, store, index == 0, args.repeats)
            body_s = time_estimate.batch_token_seconds(item.body_matrices)
            logit_s = time_estimate.batch_token_seconds(item.logit_matrices)
            rows = CTX - 1 - CTX // 2
            body.append(s["prompt"] / (body_s * CTX + logit_s))
            logit.append((s["chunk"] - s["prompt"]) / (logit_s * (rows - 1)))
            entries = rows * item.vocab_size
            per_entry["ref" if index == 0 else "cmp"].append(s["distributions"] / entries)
            loads.append(s["load"])
            token = s["single"] / GEN
            per_weight.append(token / (item.body_parameters + item.logit_parameters))
            per_byte.append(token / item.generated_token_bytes)
            cells = ", ".join(f"{k} {v:.3f}" for k, v in s.items())
            print(f"{item.level:7} {cells}  (seconds)", flush=True)
    print("\nper unit, median over the files (the model's value in brackets):")
    prompt_ratio, logit_ratio = statistics.median(body), statistics.median(logit)
    print(f"  batched evaluation, measured / predicted by type: prompt {prompt_ratio:.3f}, "
          f"output layer {logit_ratio:.3f}")  # fmt: skip
    print(f"  distributions per position x vocabulary entry: reference "
          f"{statistics.median(per_entry['ref']):.3g} ({time_estimate._REFERENCE_S}), candidate "
          f"{statistics.median(per_entry['cmp']):.3g} ({time_estimate._COMPARE_S})")  # fmt: skip
    print(f"  load: {statistics.median(loads):.3f} s ({time_estimate._LOAD_S})")
    # A token costs max(compute, memory): the least per weight is a file where compute binds,
    # the least per byte one where reading the weights does.
    print(f"  generated token: per weight {min(per_weight):.3g} "
          f"({time_estimate._TOKEN_WEIGHT_S}), per byte {min(per_byte):.3g} "
          f"({time_estimate._TOKEN_BYTE_S})")  # fmt: skip


if __name__ == "__main__":
    main()
