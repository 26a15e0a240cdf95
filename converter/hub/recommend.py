"""First-run suggestions: models from ``resources/recommended_models.json`` sized to the machine.

The list itself is data (real repos and files, edited without touching code); only the rule
that turns a file size into a memory need lives here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from converter.errors import QuantdeskError
from converter.resources import resource_path

RECOMMENDATIONS_FILE = resource_path("recommended_models.json")
#: Beyond the weights, a chat needs the KV cache and llama.cpp's compute buffers: about a fifth
#: of the weights plus half a GiB at a few thousand tokens of context.
OVERHEAD_FACTOR = 1.2
OVERHEAD_BYTES = 512 * 1024**2
#: Share of system RAM a model may take when it runs on the CPU: the OS and the apps the user
#: has open need the rest.
RAM_SHARE = 0.5
#: Share of VRAM usable for the model (the display and the driver keep some).
VRAM_SHARE = 0.9
#: The first suggestion stays within this share of the budget so longer chats still fit.
COMFORT_SHARE = 0.6


@dataclass(frozen=True, slots=True)
class Recommendation:
    title: str
    repo_id: str
    filename: str
    level: str
    size_bytes: int
    licence: str
    blurb: str

    @property
    def memory_needed(self) -> int:
        return int(self.size_bytes * OVERHEAD_FACTOR) + OVERHEAD_BYTES


def load_recommendations(path: Path = RECOMMENDATIONS_FILE) -> tuple[Recommendation, ...]:
    """The list, smallest first; a damaged file is a clear error, not a crash."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["models"]
        models = tuple(Recommendation(**entry) for entry in entries)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QuantdeskError(
            f"The list of recommended models ({path.name}) is missing or damaged; "
            "reinstall Quantdesk."
        ) from exc
    return tuple(sorted(models, key=lambda m: m.size_bytes))


def memory_budget(hardware_ram_bytes: int, vram_bytes: int) -> int:
    """Bytes a model may use: on the GPU if it has more room, else a share of RAM."""
    return int(max(vram_bytes * VRAM_SHARE, hardware_ram_bytes * RAM_SHARE))


def recommend_for(
    hardware_ram_bytes: int,
    vram_bytes: int,
    models: tuple[Recommendation, ...] | None = None,
) -> tuple[Recommendation, ...]:
    """One model that runs comfortably here, then a larger one if it still fits.

    On a machine too small for any of them the smallest is offered alone: it may still run,
    slowly, and the app's fit check will say so.
    """
    models = load_recommendations() if models is None else models
    if not models:
        return ()
    budget = memory_budget(hardware_ram_bytes, vram_bytes)
    comfortable = [m for m in models if m.memory_needed <= budget * COMFORT_SHARE]
    first = comfortable[-1] if comfortable else models[0]
    larger = [m for m in models if m.size_bytes > first.size_bytes and m.memory_needed <= budget]
    return (first, larger[0]) if larger else (first,)
