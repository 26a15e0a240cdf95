"""What batched evaluation costs per weight, for each weight type: the time model's table.

    python -m benchmarks.batch_cost_types [--widths 768 2048] [--repeats 3] [--out DIR]

For each width W, a random llama-shaped model (``--layers`` blocks, W wide, FFN 4W, a 320-token
vocabulary so that the output layer is negligible) is written in F16 and quantized "pure" to
each type (every matrix in that type, as ``llama-quantize --pure`` does). On one thread, with
the measuring code's own loading, a 512-token prompt asking for one position's logits is
evaluated; the figure is the calling thread's CPU time, the least of ``--repeats`` runs (with one
thread llama.cpp computes on the caller, so other processes on the machine barely move it).

A matrix product of a batch costs, per token, something per weight (the multiply-adds) and
something per output row (each row's dot products are set up and stored once per token; ggml's
kernels differ by type in both). With the models' weights N and rows R at two widths, the two
equations ``seconds per token = N * per_weight + R * per_row`` give both for each type. Prints
a Markdown table and the Python table for ``desktop/engine/measure/time_estimate.py``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.ladder_time_parts import least_cpu_seconds
from desktop.engine.hardware import cpu_model_name
from desktop.engine.measure.file_facts import read_file_facts
from desktop.engine.measure.loaded_model import close_measured, open_for_measuring
from desktop.engine.measure.speed import _time_prompt
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf
from tests.support.quantize_reference import quantize_pure_with_llama_cpp

CTX = 512
#: llama.cpp file types whose "pure" quantization puts every matrix in the named type.
PURE_TYPES = {
    "F32": 0,
    "F16": 1,
    "BF16": 32,
    "Q8_0": 7,
    "Q4_0": 2,
    "Q4_1": 3,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q2_K": 10,
    "Q3_K": 12,
    "Q4_K": 15,
    "Q5_K": 17,
    "Q6_K": 18,
    "IQ4_NL": 25,
    "IQ4_XS": 30,
    "IQ3_S": 26,
}


def _weights_and_rows(path: Path) -> tuple[int, int]:
    """Body matrices' weights and output rows (embedding and output layer left out)."""
    shares = read_file_facts(path).body_matrices
    return sum(share.weights for share in shares), sum(share.rows for share in shares)


def _prompt_cpu_seconds(path: Path, repeats: int, vocab: int = 320) -> float:
    llm: Any = open_for_measuring(
        path, n_ctx=CTX, n_batch=CTX, n_ubatch=CTX, n_threads=1, n_threads_batch=1
    )
    try:
        prompt = [int(t) for t in np.random.default_rng(1).integers(3, vocab, CTX)]
        return least_cpu_seconds(repeats, lambda: _time_prompt(llm, prompt))
    finally:
        close_measured(llm)


def check(files: list[Path], repeats: int) -> None:
    """Predicted (the time model's table) against measured CPU time of a 512-token prompt."""
    from desktop.engine.measure.time_estimate import batch_token_seconds

    print("\n| file | types | measured ms/token | predicted | error |")
    print("|---|---|---:|---:|---:|")
    for path in files:
        facts = read_file_facts(path)
        predicted = batch_token_seconds(facts.body_matrices)
        predicted += batch_token_seconds(facts.logit_matrices) / CTX  # one position's logits
        measured = _prompt_cpu_seconds(path, repeats, vocab=facts.vocab_size) / CTX
        types = ", ".join(f"{s.type_name} {s.weights / 1e6:.0f}M" for s in facts.body_matrices)
        print(f"| {path.name} | {types} | {measured * 1e3:.3f} | {predicted * 1e3:.3f} "
              f"| {predicted / measured - 1:+.1%} |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=Path, nargs="+", help="real models: predicted vs measured")
    parser.add_argument("--widths", type=int, nargs=2, default=[768, 2048])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--types", nargs="*", default=list(PURE_TYPES))
    parser.add_argument("--out", type=Path, help="folder for the models (default: temporary)")
    args = parser.parse_args()
    print(f"machine: {cpu_model_name()}; one thread, thread CPU time, least of {args.repeats}")
    if args.check:
        check(args.check, args.repeats)
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.out or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        per_token: dict[str, list[float]] = {}
        shapes: dict[str, list[tuple[int, int]]] = {}
        for width in args.widths:
            shape = TinyModelShape(
                n_layer=args.layers, n_embd=width, n_head=width // 64, n_head_kv=width // 256,
                n_ff=4 * width,
            )  # fmt: skip
            source = write_tiny_gguf(folder / f"w{width}x{args.layers}-F16.gguf", shape)
            for name in args.types:
                path = source if name == "F16" else folder / f"w{width}x{args.layers}-{name}.gguf"
                if not path.exists():
                    quantize_pure_with_llama_cpp(source, path, PURE_TYPES[name])
                token_s = _prompt_cpu_seconds(path, args.repeats) / CTX
                per_token.setdefault(name, []).append(token_s)
                shapes.setdefault(name, []).append(_weights_and_rows(path))
                weights, _rows = shapes[name][-1]
                print(f"  {name:8} W={width}: {token_s * 1e3:.3f} ms/token, "
                      f"{token_s / weights:.3g} s per weight", flush=True)  # fmt: skip
    print("\n| type | s per weight × token (W small / large) | per weight | per row |")
    print("|---|---|---|---|")
    table = {}
    for name, seconds in per_token.items():
        (n1, r1), (n2, r2) = shapes[name]
        per_weight, per_row = np.linalg.solve(np.array([[n1, r1], [n2, r2]]), np.array(seconds))
        table[name] = (float(per_weight), max(0.0, float(per_row)))
        print(f"| {name} | {seconds[0] / n1:.3g} / {seconds[1] / n2:.3g} "
              f"| {per_weight:.3g} | {per_row:.3g} |")  # fmt: skip
    print("\n_BATCH_COST = {")
    for name, (per_weight, per_row) in table.items():
        print(f'    "{name}": ({per_weight:.3g}, {per_row:.3g}),')
    print("}")


if __name__ == "__main__":
    main()
