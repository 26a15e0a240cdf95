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
    parser.add_argument(
        "--mmap",
        choices=("on", "off"),
        help="map the model file (on, llama.cpp's default) or read it into memory (off); "
        "default: read in where that gives huge pages (CPU builds on Linux), else mapped. "
        "Off with layers split between a GPU and the CPU: long prompts about 3x faster, "
        "generation a few percent slower, loading slower",
    )


def load_settings(args: argparse.Namespace) -> LoadSettings:
    """None for GPU layers, threads, flash attention and mapping lets the worker's fit planner,
    llama.cpp and the app's defaults choose."""
    flash = None if args.flash_attention is None else args.flash_attention == "on"
    read_in = None if args.mmap is None else args.mmap == "off"
    return LoadSettings(
        ctx_tokens=args.ctx,
        gpu_layers=args.gpu_layers,
        threads=args.threads,
        flash_attention=flash,
        read_weights_in=read_in,
    )


def describe_load(info: LoadInfo) -> list[str]:
    """What was loaded and how, then the notes about choices made for the user."""
    summary = (
        f"{info.model.name}: {info.model.architecture}, {info.model.file_type}, "
        f"{info.ctx_tokens}-token context, {info.gpu_layers} GPU layers, "
        f"flash attention {'on' if info.flash_attention else 'off'}, "
        f"weights {'mapped from the file' if info.weights_mapped else 'read into memory'}, "
        f"loaded in {info.load_seconds:.1f} s"
    )
    return [summary, *info.notes]
