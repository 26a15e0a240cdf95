"""Load a GGUF the way Quantdesk does and read what it costs on the GPU.

A spawned child reads the device's used memory before llama.cpp touches the GPU, loads the
model with ``open_llama`` (the app's loader), evaluates one full micro-batch so the compute
buffer is in use, and reads it again. The difference is everything the load added: llama.cpp's
buffers plus the CUDA context (driver state, kernels, cuBLAS workspace, ggml's memory pool).
llama.cpp's own buffer sizes come from its log (installed only in this measuring child), so
the context's share is what is left: ``measured - sum(GPU buffers)``.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.gpu.nvml import device_used_bytes, process_used_bytes
from converter.child_process import Emit, run_in_child

MIB = 1024**2
#: Devices whose buffers live in host memory even in a CUDA build.
HOST_DEVICES = ("CPU", "CPU_Mapped", "CUDA_Host")


def parse_buffer_line(line: str) -> tuple[str, int] | None:
    """``"load_tensors:   CUDA0 model buffer size =  4403.49 MiB"`` → ``("CUDA0 model", bytes)``."""
    head, marker, tail = line.partition(" buffer size =")
    words = head.split(":")[-1].split()
    if not marker or len(words) < 2 or not tail.strip().endswith("MiB"):
        return None
    try:
        mib = float(tail.split()[0])
    except ValueError:
        return None
    return f"{words[-2]} {words[-1]}", round(mib * MIB)


def buffer_sizes(log_text: str) -> dict[str, int]:
    """llama.cpp's reported buffers, summed per "<device> <kind>" (kind: model, KV, compute …)."""
    sizes: dict[str, int] = {}
    for line in log_text.splitlines():
        parsed = parse_buffer_line(line)
        if parsed is not None:
            sizes[parsed[0]] = sizes.get(parsed[0], 0) + parsed[1]
    return sizes


@dataclass(frozen=True, slots=True)
class VramReading:
    device_before: int | None  # the GPU's used memory before the load (None: no NVIDIA GPU)
    device_after: int | None  # … with the model loaded and one micro-batch evaluated
    process_bytes: int | None  # NVML's figure for the child itself, when it lists the PID
    buffers: dict[str, int] = field(default_factory=dict)  # llama.cpp's, "<device> <kind>"

    @property
    def measured(self) -> int | None:
        """What the load added on the GPU, CUDA context included."""
        if self.device_before is None or self.device_after is None:
            return None
        return self.device_after - self.device_before

    @property
    def gpu_buffers(self) -> int:
        """The sum of the buffers llama.cpp put in GPU memory."""
        return sum(
            size for name, size in self.buffers.items() if name.split()[0] not in HOST_DEVICES
        )

    def gpu_buffer(self, kind: str) -> int:
        return sum(
            size
            for name, size in self.buffers.items()
            if name.split()[0] not in HOST_DEVICES and name.split()[1] == kind
        )

    @property
    def context_overhead(self) -> int | None:
        """GPU memory the load added beyond llama.cpp's own buffers: the CUDA context's share."""
        measured = self.measured
        return None if measured is None else measured - self.gpu_buffers

    def to_json(self) -> dict[str, Any]:
        return {
            "device_before": self.device_before,
            "device_after": self.device_after,
            "measured": self.measured,
            "process_bytes": self.process_bytes,
            "gpu_buffers": self.gpu_buffers,
            "context_overhead": self.context_overhead,
            "buffers": dict(self.buffers),
        }


def _load_and_read(
    emit: Emit, model_path: str, fill_tokens: int, llama_kwargs: dict[str, Any]
) -> VramReading:
    before = device_used_bytes()  # before llama_cpp is imported: nothing of ours on the GPU
    import llama_cpp

    from desktop.engine.llama_loading import open_llama

    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def collect(_level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        lines.append(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
    llm = open_llama(model_path, **llama_kwargs)
    try:
        batch = min(llm.n_ctx(), llm.n_batch, max(fill_tokens, 1))
        llm.eval([(7 * i + 1000) % llm.n_vocab() for i in range(batch)])
        after = device_used_bytes()
        own = process_used_bytes(os.getpid())
    finally:
        llm.close()
    return VramReading(before, after, own, buffer_sizes("".join(lines)))


def measure_vram(model_path: Path, *, fill_tokens: int = 512, **llama_kwargs: Any) -> VramReading:
    """Load ``model_path`` with ``llama_kwargs`` in a fresh child and read its GPU memory."""
    return run_in_child(
        _load_and_read,
        str(model_path),
        fill_tokens,
        llama_kwargs,
        what=f"Measuring the memory of {Path(model_path).name}",
    )
