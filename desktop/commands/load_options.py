"""The model-loading options that ``chat`` and ``serve`` share, and the line that reports a load."""

from __future__ import annotations

import argparse

from desktop.engine.worker import LoadInfo, LoadSettings


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ctx",
        type=int,
        default=4096,
        metavar="N",
        help="context size in tokens (0: the model's own)",
    )
    parser.add_argument(
        "--gpu-layers", type=int, metavar="N", help="layers to offload (-1 all; default: auto)"
    )
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: auto)")
    parser.add_argument(
        "--flash-attention",
        choices=("on", "off"),
        help="flash attention (default: on, on the CPU and on a GPU, as llama.cpp's auto)",
    )


def load_settings(args: argparse.Namespace) -> LoadSettings:
    """None for GPU layers, threads and flash attention lets the worker's fit planner, llama.cpp
    and the app's default choose."""
    flash = None if args.flash_attention is None else args.flash_attention == "on"
    return LoadSettings(
        ctx_tokens=args.ctx, gpu_layers=args.gpu_layers, threads=args.threads, flash_attention=flash
    )


def describe_load(info: LoadInfo) -> list[str]:
    """What was loaded and how, then the notes about choices made for the user."""
    summary = (
        f"{info.model.name}: {info.model.architecture}, {info.model.file_type}, "
        f"{info.ctx_tokens}-token context, {info.gpu_layers} GPU layers, "
        f"flash attention {'on' if info.flash_attention else 'off'}, "
        f"loaded in {info.load_seconds:.1f} s"
    )
    return [summary, *info.notes]
