"""``quantdesk hw``: this machine's CPU, memory, GPUs and what llama.cpp can offload to."""

from __future__ import annotations

import argparse
import json

from converter.storage import format_bytes
from desktop.engine.hardware import HardwareInfo, probe_hardware


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def describe(info: HardwareInfo) -> str:
    """The human-readable block ``quantdesk hw`` prints."""
    cpu = info.cpu
    lines = [
        f"System:  {info.os}",
        f"CPU:     {cpu.model} ({cpu.architecture}), "
        f"{cpu.physical_cores} cores / {cpu.logical_cores} threads",
        f"         features: {', '.join(cpu.features) or 'none detected'}",
        f"RAM:     {format_bytes(info.ram_total_bytes)} total, "
        f"{format_bytes(info.ram_available_bytes)} available",
    ]
    for gpu in info.gpus:
        detail = f"compute {gpu.compute_capability}, driver {gpu.driver_version}"
        if gpu.unified_memory:
            detail = "unified memory; working set shown"
        lines.append(
            f"GPU {gpu.index}:   {gpu.name} [{gpu.kind}] {format_bytes(gpu.total_bytes)} total, "
            f"{format_bytes(gpu.free_bytes)} free ({detail})"
        )
    if not info.gpus:
        lines.append(f"GPU:     none. {info.gpu_note}")
    offload = info.offload
    can = "yes" if offload.supports_gpu_offload else "no (CPU only)"
    lines.append(
        f"llama.cpp: llama-cpp-python {offload.llama_cpp_version or 'not installed'}; "
        f"backends: {', '.join(offload.backends) or 'none'}; GPU offload: {can}"
    )
    hint = info.reinstall_hint()
    if hint:
        lines.append("This llama-cpp-python build cannot use the GPU above. Rebuild it with:")
        lines.append(f"  {hint}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = probe_hardware()
    print(json.dumps(info.to_json(), indent=2) if args.json else describe(info))
    return 0
