"""``quantdesk fit MODEL.gguf``: will this model fit, and how many layers go to the GPU?"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from converter.errors import QuantdeskError
from converter.storage import format_bytes
from desktop.engine.fit import FitPlan, plan_fit
from desktop.engine.hardware import probe_hardware
from desktop.engine.memory_model import KV_TYPE_BYTES, estimate_memory
from desktop.engine.model_summary import read_gguf_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="a GGUF model file")
    parser.add_argument("--ctx", type=int, default=4096, help="context length in tokens")
    parser.add_argument("--kv-type", choices=tuple(KV_TYPE_BYTES), default="f16")
    parser.add_argument(
        "--gpu-layers",
        default="auto",
        help="layers to offload, or 'auto' to pick the most that fit",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _plan_json(plan: FitPlan) -> dict:
    data = dataclasses.asdict(plan)
    data["estimate"]["breakdown"] = dict(plan.estimate.breakdown)
    return data


def run(args: argparse.Namespace) -> int:
    summary = read_gguf_summary(args.model)
    hardware = probe_hardware()
    plan = plan_fit(summary, hardware, ctx_tokens=args.ctx, kv_type=args.kv_type)
    estimate = plan.estimate
    if args.gpu_layers != "auto":
        try:
            layers = int(args.gpu_layers)
        except ValueError:
            raise QuantdeskError(
                f"--gpu-layers must be a number or 'auto', not {args.gpu_layers!r}."
            ) from None
        estimate = estimate_memory(
            summary, ctx_tokens=args.ctx, kv_type=args.kv_type, n_gpu_layers=layers,
            flash_attention=args.kv_type != "f16",
        )  # fmt: skip
    if args.json:
        data = {"plan": _plan_json(plan), "requested": dataclasses.asdict(estimate)}
        data["requested"]["breakdown"] = dict(estimate.breakdown)
        print(json.dumps(data, indent=2))
        return 0
    print(f"{args.model.name}: {summary.architecture}, {summary.n_layer} layers, "
          f"{format_bytes(summary.weight_bytes)} of weights")  # fmt: skip
    print(f"Context {estimate.n_ctx} tokens, KV cache {args.kv_type}, "
          f"{estimate.n_gpu_layers} layers on the GPU:")  # fmt: skip
    print(f"  RAM  {format_bytes(estimate.ram_bytes):>10}   (mapped weights included)")
    print(f"  VRAM {format_bytes(estimate.vram_bytes):>10}")
    for name, value in estimate.breakdown.items():
        if value:
            print(f"    {name:<12} {format_bytes(value):>10}")
    print(f"Verdict: {plan.verdict} (n_gpu_layers={plan.gpu_layers} of {plan.total_layers}). "
          f"{plan.explanation}")  # fmt: skip
    return 0 if plan.verdict != "wont_fit" else 2
