"""The memory bandwidth generation speed is bounded by, measured once with a device copy.

Generating one token reads every offloaded weight once (plus the KV cache), so
``bandwidth / bytes read per token`` is the speed no kernel can beat. The bandwidth is measured
as a large device-to-device copy with torch: each copy reads and writes the buffer, so it moves
twice its size. It runs in a separate plain Python process, so that torch's CUDA context is
gone before anything else measures GPU memory, and so that torch never shares a process with
llama.cpp's CUDA build (the two together aborted). With ``device="cpu"`` (a rehearsal without
a GPU) it measures RAM.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Bandwidth:
    device: str  # "cuda:0 NVIDIA H100 80GB HBM3" or "cpu"
    buffer_bytes: int
    bytes_per_second: float  # median over the timed copies, read + written bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "buffer_bytes": self.buffer_bytes,
            "bytes_per_second": self.bytes_per_second,
            "method": "torch device-to-device copy_, (read + written bytes) / time, median",
        }


def _copy(device: str, buffer_bytes: int, repeats: int) -> Bandwidth:
    import torch

    on_gpu = device.startswith("cuda")
    source = torch.empty(buffer_bytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    target = torch.empty_like(source)

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize()

    for _ in range(3):  # warm-up: allocation, clocks up
        target.copy_(source)
    sync()
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        target.copy_(source)
        sync()
        rates.append(2 * source.numel() * 4 / (time.perf_counter() - started))
    name = f"{device} {torch.cuda.get_device_name(device)}" if on_gpu else device
    return Bandwidth(name, source.numel() * 4, statistics.median(rates))


def measure_bandwidth(
    device: str, *, buffer_bytes: int = 2 * 1024**3, repeats: int = 20
) -> Bandwidth:
    code = (
        "import json, sys; from dataclasses import asdict; "
        "from benchmarks.gpu.bandwidth import _copy; "
        f"print(json.dumps(asdict(_copy({device!r}, {buffer_bytes}, {repeats}))))"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"measuring the {device} bandwidth failed: {done.stderr[-2000:]}")
    return Bandwidth(**json.loads(done.stdout.strip().splitlines()[-1]))
