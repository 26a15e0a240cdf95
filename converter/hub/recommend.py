"""First-run suggestions: models from ``resources/recommended_models.json`` sized to the machine.

The list and the thresholds of the choice are data (real repos and files, edited without
touching code); the rule that turns a file size into a memory need, and the order in which
the thresholds apply, live here.

The first suggestion is for chatting within minutes of installing: on a GPU it is the largest
model that fits its memory comfortably; on a CPU-only machine (or a GPU too small for any) it
is also kept to a small file, because a large model there is a long download and a slow chat.
A larger model is offered second when it still fits.

Memory is not enough on a small machine: a model that fits may still answer too slowly to
chat with. :func:`suggest_for` therefore also estimates each model's decode speed from the
machine's capacity (cores, measured memory bandwidth, and whether the model fits the GPU) and
leaves out models that would generate fewer than ``min_tokens_per_second``. Generating one token
reads every weight once (bandwidth-bound) and does about two operations per weight
(compute-bound); the slower of the two limits is the estimate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.errors import QuantdeskError
from converter.resources import resource_path

RECOMMENDATIONS_FILE = resource_path("recommended_models.json")
#: Beyond the weights, a chat needs the KV cache and llama.cpp's compute buffers: about a fifth
#: of the weights plus half a GiB at a few thousand tokens of context.
OVERHEAD_FACTOR = 1.2
OVERHEAD_BYTES = 512 * 1024**2
#: Q4_K_M's bits per weight, for a list entry that does not give its parameter count.
TYPICAL_BITS_PER_WEIGHT = 4.9


@dataclass(frozen=True, slots=True)
class Recommendation:
    title: str
    repo_id: str
    filename: str
    level: str
    size_bytes: int
    licence: str
    blurb: str
    parameters: int = 0  # weights in the file; 0: estimated from its size

    @property
    def parameter_count(self) -> int:
        return self.parameters or int(self.size_bytes * 8 / TYPICAL_BITS_PER_WEIGHT)

    @property
    def memory_needed(self) -> int:
        return int(self.size_bytes * OVERHEAD_FACTOR) + OVERHEAD_BYTES


@dataclass(frozen=True, slots=True)
class SuggestionRules:
    """The thresholds of the choice (the ``rules`` object of the recommendations file)."""

    ram_share: float  # of system RAM a model may take on the CPU; the OS and apps need the rest
    vram_share: float  # of VRAM usable for a model; the display and the driver keep some
    comfort_share: float  # of that budget the first suggestion stays within, for long chats
    cpu_first_max_file_bytes: int  # the first suggestion's largest file without a usable GPU


@dataclass(frozen=True, slots=True)
class SpeedRules:
    """How decode speed is estimated (the ``speed`` object of the recommendations file)."""

    cpu_weights_per_core_second: float  # weights one core multiplies in per second
    bandwidth_efficiency: float  # share of the measured bandwidth a decode step reaches
    gpu_bandwidth_bytes_per_second: float  # a modest GPU's; the real one is not measured
    min_tokens_per_second: float  # slower than this is no pleasure to chat with


@dataclass(frozen=True, slots=True, kw_only=True)
class MachineCapacity:
    """What decides which models run well here."""

    ram_bytes: int
    vram_bytes: int
    cpu_cores: int
    memory_bandwidth_bytes_per_second: float  # measured; 0 when unknown


@dataclass(frozen=True, slots=True)
class Suggestion:
    model: Recommendation
    tokens_per_second: float  # the estimate
    on_gpu: bool


def _read(path: Path, key: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))[key]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _damaged(path) from exc


def _damaged(path: Path) -> QuantdeskError:
    return QuantdeskError(
        f"The list of recommended models ({path.name}) is missing or damaged; reinstall Quantdesk."
    )


def load_recommendations(path: Path = RECOMMENDATIONS_FILE) -> tuple[Recommendation, ...]:
    """The list, smallest first; a damaged file is a clear error, not a crash."""
    try:
        models = tuple(Recommendation(**entry) for entry in _read(path, "models"))
    except TypeError as exc:
        raise _damaged(path) from exc
    return tuple(sorted(models, key=lambda m: m.size_bytes))


def load_rules(path: Path = RECOMMENDATIONS_FILE) -> SuggestionRules:
    rules = _read(path, "rules")
    try:
        return SuggestionRules(
            ram_share=float(rules["ram_share"]),
            vram_share=float(rules["vram_share"]),
            comfort_share=float(rules["comfort_share"]),
            cpu_first_max_file_bytes=int(rules["cpu_first_max_file_bytes"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _damaged(path) from exc


def load_speed_rules(path: Path = RECOMMENDATIONS_FILE) -> SpeedRules:
    speed = _read(path, "speed")
    try:
        return SpeedRules(
            cpu_weights_per_core_second=float(speed["cpu_weights_per_core_second"]),
            bandwidth_efficiency=float(speed["bandwidth_efficiency"]),
            gpu_bandwidth_bytes_per_second=float(speed["gpu_bandwidth_bytes_per_second"]),
            min_tokens_per_second=float(speed["min_tokens_per_second"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _damaged(path) from exc


def expected_speed(
    model: Recommendation, capacity: MachineCapacity, rules: SuggestionRules, speed: SpeedRules
) -> Suggestion:
    """Estimated decode tokens/s of ``model`` here, and whether it runs on the GPU."""
    if capacity.vram_bytes and model.memory_needed <= capacity.vram_bytes * rules.vram_share:
        rate = speed.gpu_bandwidth_bytes_per_second * speed.bandwidth_efficiency
        return Suggestion(model, rate / model.size_bytes, on_gpu=True)
    compute = max(capacity.cpu_cores, 1) * speed.cpu_weights_per_core_second
    tokens_per_second = compute / model.parameter_count
    if capacity.memory_bandwidth_bytes_per_second > 0:
        usable = capacity.memory_bandwidth_bytes_per_second * speed.bandwidth_efficiency
        tokens_per_second = min(tokens_per_second, usable / model.size_bytes)
    return Suggestion(model, tokens_per_second, on_gpu=False)


def suggest_for(
    capacity: MachineCapacity,
    models: tuple[Recommendation, ...] | None = None,
    rules: SuggestionRules | None = None,
    speed: SpeedRules | None = None,
) -> tuple[Suggestion, ...]:
    """:func:`recommend_for` among the models fast enough here, each with its expected speed.

    The first suggestion is picked among the snappy ones (twice ``min_tokens_per_second``) when
    there are any, the larger second one among all that are fast enough. When none is fast
    enough, the fastest is offered alone, with its speed.
    """
    models = load_recommendations() if models is None else models
    rules = load_rules() if rules is None else rules
    speed = load_speed_rules() if speed is None else speed
    if not models:
        return ()
    estimates = {m: expected_speed(m, capacity, rules, speed) for m in models}

    def at_least(rate: float) -> tuple[Recommendation, ...]:
        return tuple(m for m in models if estimates[m].tokens_per_second >= rate)

    fast = at_least(speed.min_tokens_per_second)
    if not fast:
        return (max(estimates.values(), key=lambda s: s.tokens_per_second),)
    snappy = at_least(2 * speed.min_tokens_per_second) or fast
    first = recommend_for(capacity.ram_bytes, capacity.vram_bytes, snappy, rules)[0]
    larger = [
        m
        for m in recommend_for(capacity.ram_bytes, capacity.vram_bytes, fast, rules)
        if m.size_bytes > first.size_bytes
    ]
    return tuple(estimates[m] for m in (first, *larger[-1:]))


def memory_budget(hardware_ram_bytes: int, vram_bytes: int, rules: SuggestionRules) -> int:
    """Bytes a model may use: on the GPU if it has more room, else a share of RAM."""
    return int(max(vram_bytes * rules.vram_share, hardware_ram_bytes * rules.ram_share))


def _first_choice(
    models: tuple[Recommendation, ...], ram_bytes: int, vram_bytes: int, rules: SuggestionRules
) -> Recommendation:
    """The largest model that runs comfortably in VRAM; without one, a small one on the CPU."""
    vram_comfort = vram_bytes * rules.vram_share * rules.comfort_share
    if in_vram := [m for m in models if m.memory_needed <= vram_comfort]:
        return in_vram[-1]
    comfort = memory_budget(ram_bytes, vram_bytes, rules) * rules.comfort_share
    small_file = rules.cpu_first_max_file_bytes
    small = [m for m in models if m.memory_needed <= comfort and m.size_bytes <= small_file]
    return small[-1] if small else models[0]


def recommend_for(
    hardware_ram_bytes: int,
    vram_bytes: int,
    models: tuple[Recommendation, ...] | None = None,
    rules: SuggestionRules | None = None,
) -> tuple[Recommendation, ...]:
    """A model to start chatting with quickly, then a larger one if it still fits.

    The larger one is the largest that runs comfortably, else the next size up that fits.
    On a machine too small for any of them the smallest is offered alone: it may still run,
    slowly, and the app's fit check will say so. ``models`` (smallest first) and ``rules``
    default to the shipped file's.
    """
    models = load_recommendations() if models is None else models
    rules = load_rules() if rules is None else rules
    if not models:
        return ()
    first = _first_choice(models, hardware_ram_bytes, vram_bytes, rules)
    budget = memory_budget(hardware_ram_bytes, vram_bytes, rules)
    larger = [m for m in models if m.size_bytes > first.size_bytes and m.memory_needed <= budget]
    if not larger:
        return (first,)
    comfortable = [m for m in larger if m.memory_needed <= budget * rules.comfort_share]
    return (first, comfortable[-1] if comfortable else larger[0])
