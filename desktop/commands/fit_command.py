"""``quantdesk fit MODEL``: will this model fit, and how many layers go to the GPU?

MODEL is a GGUF file or a Hugging Face checkpoint folder. A folder is sized from the header
its conversion would write (no weights are converted), so the answer comes in seconds.
``--ladder`` shows every quantization level's predicted size and fit instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from converter.errors import QuantdeskError
from converter.kv_cache_types import KV_CACHE_TYPES
from converter.model_summary import GGUFSummary, read_gguf_summary
from converter.storage import format_bytes
from desktop.commands.model_argument import find_model
from desktop.engine import memory_model
from desktop.engine.fit_planner import FitPlan, LadderEntry, plan_fit, predict_ladder
from desktop.engine.hardware import probe_hardware
from desktop.engine.memory_model import MemoryEstimate, estimate_memory
from desktop.services.fit_text import verdict_words

#: Tensor types of a file that has not been quantized yet (the ladder starts from one).
_FULL_PRECISION_TYPES = frozenset({"F32", "F16", "BF16"})

#: The memory model's parts in words.
_PART_WORDS = {
    "weights_cpu": "Weights",
    "kv_cpu": "KV cache",
    "compute_cpu_touched": "Compute buffer",
    "cpu_work": "CPU scratch",
    "output": "Output logits",
    "vocabulary": "Vocabulary",
    "process": "Process",
    "huge_page_slack": "Huge pages",
    "window_checkpoints": "Window copies",
    "weights_gpu": "Weights",
    "kv_gpu": "KV cache",
    "compute_gpu": "Compute buffer",
    "gpu_context": "GPU context",
}
#: What the RAM and the VRAM figures count, in the order printed, with their words.
RAM_PARTS = tuple((key, _PART_WORDS[key]) for key in memory_model.RAM_PARTS)
VRAM_PARTS = tuple((key, _PART_WORDS[key]) for key in memory_model.VRAM_PARTS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="a GGUF model file, a library model's name as quantdesk list shows it, or a "
        "Hugging Face checkpoint folder",
    )
    parser.add_argument(
        "--ctx",
        type=int,
        default=4096,
        help="context length in tokens (0: the model's own, as chat and serve take it)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="replies served at once (quantdesk serve --parallel), each with --ctx tokens",
    )
    parser.add_argument("--kv-type", choices=tuple(KV_CACHE_TYPES), default="f16")
    parser.add_argument(
        "--gpu-layers",
        default="auto",
        help="layers to offload, or 'auto' to pick the most that fit",
    )
    parser.add_argument(
        "--ladder",
        action="store_true",
        help="predict every quantization level's file size and fit (from an F16/BF16/F32 "
        "GGUF or a checkpoint folder)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def read_model_summary(model: Path) -> GGUFSummary:
    """The GGUF's summary, or for a checkpoint folder that of the file converting it makes."""
    if not model.is_dir():
        return read_gguf_summary(model)
    from converter.preview import write_header_preview

    with tempfile.TemporaryDirectory(prefix="quantdesk-fit-") as folder:
        return read_gguf_summary(write_header_preview(model, Path(folder)))


def _estimate_json(estimate: MemoryEstimate) -> dict[str, Any]:
    """Field by field: ``dataclasses.asdict`` cannot copy the read-only breakdown mapping."""
    data = {f.name: getattr(estimate, f.name) for f in dataclasses.fields(estimate)}
    data["breakdown"] = dict(estimate.breakdown)
    return data


def _plan_json(plan: FitPlan) -> dict[str, Any]:
    data = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
    data["estimate"] = _estimate_json(plan.estimate)
    return data


def _require_full_precision(model: Path, summary: GGUFSummary) -> None:
    quantized = sorted({t.type_name for t in summary.header.tensors} - _FULL_PRECISION_TYPES)
    if quantized:
        raise QuantdeskError(
            f"{model.name} is already quantized (it holds {', '.join(quantized)} tensors), so "
            "the ladder cannot be predicted from it. Give the F16, BF16 or F32 file of this "
            "model, or its checkpoint folder."
        )


def _run_ladder(args: argparse.Namespace, summary: GGUFSummary) -> int:
    if args.gpu_layers != "auto":
        raise QuantdeskError("--ladder picks the GPU layers of each level; leave out --gpu-layers.")
    _require_full_precision(args.model, summary)
    ladder = predict_ladder(
        summary,
        probe_hardware(),
        ctx_tokens=args.ctx,
        kv_type=args.kv_type,
        sequences=args.parallel,
    )
    if args.json:
        print(json.dumps(_ladder_json(args, ladder), indent=2))
    else:
        _print_ladder(args, summary, ladder)
    return 0 if any(entry.plan.verdict != "wont_fit" for entry in ladder) else 2


def _ladder_json(args: argparse.Namespace, ladder: list[LadderEntry]) -> dict[str, Any]:
    return {
        "model": str(args.model),
        "ctx": args.ctx,
        "kv_type": args.kv_type,
        "levels": [
            {"level": e.level.name, "size_bytes": e.size_bytes, "plan": _plan_json(e.plan)}
            for e in ladder
        ],
    }


def _print_ladder(
    args: argparse.Namespace, summary: GGUFSummary, ladder: list[LadderEntry]
) -> None:
    print(f"{args.model.name}: {summary.architecture}, {summary.n_layer} layers; "
          f"context {args.ctx} tokens, KV cache {args.kv_type}")  # fmt: skip
    print(f"  {'Level':<8} {'File':>10} {'RAM':>10} {'VRAM':>10}  Fit")
    for entry in ladder:
        plan = entry.plan
        where = verdict_words(plan)
        print(f"  {entry.level.name:<8} {format_bytes(entry.size_bytes):>10} "
              f"{format_bytes(plan.ram_bytes):>10} {format_bytes(plan.vram_bytes):>10}  "
              f"{where}")  # fmt: skip


def _context_tokens(typed: int, summary: GGUFSummary) -> int:
    """``--ctx`` as llama.cpp takes it: 0 is the context the model was trained with."""
    if typed < 0:
        raise QuantdeskError(f"--ctx must be 0 (the model's own context) or more, not {typed}.")
    if typed == 0:
        if summary.n_ctx_train <= 0:
            raise QuantdeskError("The model does not say its context length; give --ctx.")
        return summary.n_ctx_train
    return typed


def run(args: argparse.Namespace) -> int:
    if args.parallel < 1:
        raise QuantdeskError(f"--parallel must be at least 1, not {args.parallel}.")
    args.model = find_model(args.model)
    summary = read_model_summary(args.model)
    args.ctx = _context_tokens(args.ctx, summary)
    slot_ctx = args.ctx
    args.ctx = slot_ctx * args.parallel  # every slot keeps its own KV cache
    if args.ladder:
        return _run_ladder(args, summary)
    hardware = probe_hardware()
    plan = plan_fit(
        summary, hardware, ctx_tokens=args.ctx, kv_type=args.kv_type, sequences=args.parallel
    )
    estimate = plan.estimate
    if args.gpu_layers != "auto":
        try:
            layers = int(args.gpu_layers)
        except ValueError:
            raise QuantdeskError(
                f"--gpu-layers must be a number or 'auto', not {args.gpu_layers!r}."
            ) from None
        estimate = estimate_memory(
            summary,
            ctx_tokens=args.ctx,
            kv_type=args.kv_type,
            n_gpu_layers=layers,
            sequences=args.parallel,
        )
    if args.json:
        data = {"plan": _plan_json(plan), "requested": _estimate_json(estimate)}
        data["parallel"], data["ctx_per_slot"] = args.parallel, slot_ctx
        print(json.dumps(data, indent=2))
        return 0
    print(f"{args.model.name}: {summary.architecture}, {summary.n_layer} layers, "
          f"{format_bytes(summary.weight_bytes)} of weights")  # fmt: skip
    slots = f" ({args.parallel} parallel slots of {slot_ctx})" if args.parallel > 1 else ""
    print(f"Context {estimate.n_ctx} tokens{slots}, KV cache {args.kv_type}, "
          f"{estimate.n_gpu_layers} layers on the GPU:")  # fmt: skip
    print(f"  RAM  {format_bytes(estimate.ram_bytes):>10}   (weights included)")
    # On the CPU llama.cpp reserves the compute buffer for the worst case; RAM holds what is used.
    reserved = estimate.breakdown["compute_cpu"]
    notes = {"compute_cpu_touched": f"of {format_bytes(reserved)} reserved"}
    _print_parts(estimate, RAM_PARTS, notes)
    if estimate.vram_bytes:
        print(f"  VRAM {format_bytes(estimate.vram_bytes):>10}")
        _print_parts(estimate, VRAM_PARTS)
    automatic = " (GPU layers chosen for this machine)" if args.gpu_layers != "auto" else ""
    print(f"Verdict{automatic}: {verdict_words(plan)}. {plan.explanation}")
    return 0 if plan.verdict != "wont_fit" else 2


def _print_parts(
    estimate: MemoryEstimate,
    parts: tuple[tuple[str, str], ...],
    notes: dict[str, str] | None = None,
) -> None:
    for key, words in parts:
        value = estimate.breakdown[key]
        if value:
            note = (notes or {}).get(key, "")
            print(f"    {words:<16} {format_bytes(value):>10}   {note}".rstrip())
