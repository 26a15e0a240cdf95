"""Prompt and generation speed through Quantdesk's inference worker, as the chat view uses it.

The worker takes text, so it gets the prompts the plain loop built (their token ids are known)
and answers each greedily with ``complete``; its own :class:`ReplyStats` give the speeds. The
GPU memory it holds is read while it is loaded: the device's used memory with the worker up,
minus before it started (its CUDA context included), and NVML's per-process figure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.gpu.nvml import device_used_bytes
from benchmarks.gpu.plain_speed import median
from desktop.engine.worker import InferenceWorker, LoadInfo, LoadSettings, SamplingSettings

_WARM_UP_TOKENS = 4


@dataclass(frozen=True, slots=True)
class WorkerSpeed:
    settings: LoadSettings
    gpu_layers: int  # what the worker actually used
    flash_attention: bool
    notes: tuple[str, ...]
    load_seconds: float
    prompt_tokens: tuple[int, ...]  # per reply, as the worker counted them
    pp: tuple[float, ...]
    tg: tuple[float, ...]
    generated_tokens: tuple[int, ...]
    vram_measured: int | None  # device used with the worker loaded, minus before
    vram_worker_stats: int | None  # the worker's own stats() figure (NVML per process)

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": dataclasses.asdict(self.settings),
            "gpu_layers": self.gpu_layers,
            "flash_attention": self.flash_attention,
            "notes": list(self.notes),
            "load_seconds": self.load_seconds,
            "pp": median(self.pp),
            "tg": median(self.tg),
            "runs": {
                "prompt_tokens": list(self.prompt_tokens),
                "pp": list(self.pp),
                "tg": list(self.tg),
                "generated_tokens": list(self.generated_tokens),
            },
            "vram_measured": self.vram_measured,
            "vram_worker_stats": self.vram_worker_stats,
        }


def _ignore(_piece: str) -> None:
    pass


def measure_worker(
    model_path: Path, settings: LoadSettings, texts: Sequence[str], gen_tokens: int
) -> WorkerSpeed:
    """Load ``model_path`` in a fresh worker, answer ``texts[0]`` to warm up, time the rest."""
    before = device_used_bytes()
    with InferenceWorker() as worker:
        info: LoadInfo = worker.load(model_path, settings)
        worker.complete(
            texts[0], SamplingSettings.greedy(max_tokens=_WARM_UP_TOKENS), on_token=_ignore
        )
        replies = [
            worker.complete(text, SamplingSettings.greedy(max_tokens=gen_tokens), on_token=_ignore)
            for text in texts[1:]
        ]
        after = device_used_bytes()
        own = worker.stats().vram_bytes
    return WorkerSpeed(
        settings=settings,
        gpu_layers=info.gpu_layers,
        flash_attention=info.flash_attention,
        notes=info.notes,
        load_seconds=info.load_seconds,
        prompt_tokens=tuple(r.prompt_tokens for r in replies),
        pp=tuple(r.prompt_tokens_per_second for r in replies),
        tg=tuple(r.generation_tokens_per_second for r in replies),
        generated_tokens=tuple(r.generated_tokens for r in replies),
        vram_measured=None if before is None or after is None else after - before,
        vram_worker_stats=own,
    )
