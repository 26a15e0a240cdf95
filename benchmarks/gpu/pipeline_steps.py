"""The benchmark's steps in order, each one logged, timed and saved, none able to stop the rest.

Disk is the tight resource on the GPU machine (64 GiB: the checkpoint and the F16 model are
16 GB each), so the checkpoint is deleted once converted and each quantized level once it has
been measured. Time is the other one: after the first quantized level the remaining ladder is
projected from what that level cost, and cut to a representative subset when it would not fit.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.gpu import level_runs
from benchmarks.gpu.level_runs import SpeedPlan
from benchmarks.gpu.report import GIB, Results
from benchmarks.gpu.synthetic_llama import LlamaShape, write_checkpoint
from benchmarks.gpu.timeline import Timeline
from converter.progress import Progress, run_job

__all__ = ["Pipeline", "SpeedPlan", "StepRunner"]

#: The representative subset, most wanted first, then the rest of the ladder.
SUBSET = ("Q4_K_M", "Q8_0", "Q2_K", "Q6_K", "Q5_K_M", "Q4_0", "Q3_K_M")
REST = ("Q3_K_S", "Q3_K_L", "Q4_K_S", "Q5_K_S")
#: The level the app recommends: its default settings and flash attention are checked on it.
DEFAULTS_LEVEL = "Q4_K_M"
_CONTEXTS = (4096, 16384, 32768)
_ALL_CASES = (
    *((ctx, kv, kv != "f16") for kv in ("f16", "q8_0", "q4_0") for ctx in _CONTEXTS),
    (32768, "f16", True),
)
_EDGE_CASES = ((4096, "f16", False), (32768, "q4_0", True))
#: (ctx, KV type, flash attention) cases of predicted vs measured VRAM, per level.
VRAM_CASES = {"Q4_K_M": _ALL_CASES, "F16": _EDGE_CASES, "Q8_0": _EDGE_CASES, "Q2_K": _EDGE_CASES}
#: Contexts of the forced partial-offload check, per level.
PARTIAL_CASES = {"F16": (4096,), "Q8_0": (4096,), "Q4_K_M": (32768,)}
_FALLBACK_TEXTS = ["The quick brown fox jumps over the lazy dog. " * 40] * 3


class StepRunner:
    """``with runner.step(name):`` logs, times and records a step; an exception is recorded."""

    def __init__(self, results: Results, timeline: Timeline) -> None:
        self.results = results
        self.timeline = timeline

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        record: dict[str, Any] = {"status": "running"}
        self.results.data["steps"][name] = record
        self.timeline.log(f"{name}: start ({self.timeline.seconds_left():.0f} s of budget left)")
        started = time.monotonic()
        try:
            yield record
            record["status"] = "ok"
        except Exception as exc:  # recorded and logged; the next steps still run
            record["status"] = "failed"
            record["error"] = f"{type(exc).__name__}: {exc}"
            self.results.data["errors"].append(f"{name}: {record['error']}")
            self.timeline.log(f"{name}: FAILED\n{traceback.format_exc()}")
        finally:
            record["seconds"] = time.monotonic() - started
            self.results.save()
            self.timeline.log(f"{name}: {record['status']} in {record['seconds']:.1f} s")

    def ok(self, name: str) -> bool:
        return self.results.data["steps"].get(name, {}).get("status") == "ok"


def progress_logger(timeline: Timeline, what: str) -> Callable[[Progress], None]:
    """Log a job's progress every 20 % (or every 30 s), not every tensor."""
    last = {"share": -1.0, "at": time.monotonic()}

    def report(event: Progress) -> None:
        share = event.fraction or 0.0
        if share - last["share"] >= 0.2 or time.monotonic() - last["at"] >= 30 or share >= 1:
            last.update(share=share, at=time.monotonic())
            timeline.log(f"{what}: {event.done}/{event.total} {event.unit} {event.message}")

    return report


@dataclass
class Pipeline:
    runner: StepRunner
    hardware: Any
    shape: LlamaShape
    tokenizer: Path
    work: Path
    plan: SpeedPlan
    quantize_threads: int
    partial_budget: int
    keep_models: bool
    on_gpu: bool
    bandwidth: float | None = None
    texts: list[str] = field(default_factory=lambda: list(_FALLBACK_TEXTS))
    quantize_seconds: dict[str, float] = field(default_factory=dict)
    speed_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return self.runner.results.data

    def log(self, message: str) -> None:
        self.runner.timeline.log(message)

    def run(self, levels: list[str] | None) -> None:
        with self.runner.step("bandwidth"):
            device, size = ("cuda:0", 2 * GIB) if self.on_gpu else ("cpu", 256 * 1024**2)
            measured = level_runs_bandwidth(device, size)
            self.data["bandwidth"] = measured
            self.bandwidth = measured["bytes_per_second"]
        source = self.source_model()
        if source is None:
            return
        self.measure("F16", source)
        chosen = [name.strip().upper() for name in levels] if levels else [*SUBSET, *REST]
        skipped: list[str] = []
        for name in [n for n in chosen if n != "F16"]:
            at_rest = levels is None and self.quantize_seconds and name == REST[0]
            if at_rest and not self.rest_fits(chosen):
                break
            if self.level_estimate() > self.runner.timeline.seconds_left():
                skipped.append(name)
                continue
            path = self.quantize(source, name)
            if path is not None:
                self.measure(name, path)
                if not self.keep_models:
                    path.unlink(missing_ok=True)
        if skipped:
            self.data["notes"].append(
                f"Skipped for time: {', '.join(skipped)} (about {self.level_estimate():.0f} s "
                "each to quantize and time, more than was left of the budget)."
            )

    def level_estimate(self) -> float:
        """Seconds one more level takes (quantize + speed), from what the previous ones took.

        F16's speed runs are the slowest (twice the bytes of Q8_0): they count only until a
        quantized level has been timed.
        """
        quantize = max(self.quantize_seconds.values(), default=0.0)
        quantized = [s for name, s in self.speed_seconds.items() if name != "F16"]
        return quantize + max(quantized or self.speed_seconds.values() or [0.0])

    def rest_fits(self, chosen: list[str]) -> bool:
        """Whether the levels beyond the subset fit; a note says which way it went and why."""
        per_level = self.level_estimate()
        remaining = sum(1 for name in chosen if name in REST)
        needed, left = per_level * remaining, self.runner.timeline.seconds_left()
        if needed <= left:
            return True
        self.data["notes"].append(
            f"Measured {per_level:.0f} s per level (quantize + speed runs); the {remaining} "
            f"levels beyond the representative subset (F16, {', '.join(SUBSET)}) would need "
            f"about {needed:.0f} s but {left:.0f} s were left, so {', '.join(REST)} were left out."
        )
        return False

    def source_model(self) -> Path | None:
        checkpoint, models = self.work / "checkpoint", self.work / "models"
        existing = models / "synthetic-llama-F16.gguf"
        if existing.is_file():  # a complete file from an earlier run (written atomically)
            self.data["notes"].append(f"Reused {existing.name} from an earlier run.")
            return existing
        with self.runner.step("checkpoint") as record:
            write_checkpoint(self.shape, checkpoint, self.tokenizer)
            record["bytes"] = sum(p.stat().st_size for p in checkpoint.glob("*.safetensors"))
        if not self.runner.ok("checkpoint"):
            return None
        from converter.convert import convert_checkpoint

        with self.runner.step("convert F16") as record:
            job = convert_checkpoint(checkpoint, models, outtype="f16", name="synthetic-llama")
            written = run_job(job, progress_logger(self.runner.timeline, "convert"))
            record["bytes"] = written.size_bytes
        if not self.keep_models:
            shutil.rmtree(checkpoint, ignore_errors=True)
        return existing if self.runner.ok("convert F16") else None

    def quantize(self, source: Path, name: str) -> Path | None:
        from converter.quantize import quantize_gguf

        with self.runner.step(f"quantize {name}") as record:
            job = quantize_gguf(source, name, out_path=source.parent, threads=self.quantize_threads)
            written = run_job(job, progress_logger(self.runner.timeline, f"quantize {name}"))
            record["bytes"] = written.size_bytes
        if not self.runner.ok(f"quantize {name}"):
            return None
        self.quantize_seconds[name] = self.data["steps"][f"quantize {name}"]["seconds"]
        return written.path

    def measure(self, name: str, path: Path) -> None:
        fa_default = level_runs.full_offload_settings(self.plan, None).flash_attention_on
        with self.runner.step(f"speed {name}"):
            result, plain = level_runs.speed_both_ways(path, self.plan, fa_default, self.bandwidth)
            result["quantize_seconds"] = self.quantize_seconds.get(name)
            self.data["levels"][name] = result
            self.texts = [p.text for p in plain.prompts]
            self.log(
                f"{name}: pp {result['plain']['generate_pp']:.0f} / {result['worker']['pp']:.0f}"
                f", tg {result['plain']['generate_tg']:.1f} / {result['worker']['tg']:.1f} t/s "
                f"(plain / Quantdesk); VRAM predicted {result['vram_predicted'] / GIB:.2f} GiB, "
                f"measured {(result['vram_measured'] or 0) / GIB:.2f} GiB"
            )
        self.speed_seconds[name] = self.data["steps"][f"speed {name}"]["seconds"]
        if name == DEFAULTS_LEVEL:
            self.defaults_and_flash_attention(name, path, fa_default)
        for ctx, kv, fa in VRAM_CASES.get(name, ()):
            with self.runner.step(f"vram {name} ctx={ctx} kv={kv} fa={int(fa)}"):
                case = level_runs.vram_case(path, ctx, kv, fa)
                self.data["vram"].append({"level": name, **case})
        for ctx in PARTIAL_CASES.get(name, ()):
            with self.runner.step(f"partial offload {name} ctx={ctx}"):
                case = level_runs.partial_offload(
                    path, self.hardware, self.partial_budget, ctx, self.texts
                )
                self.data["partial_offload"].append({"level": name, **case})

    def defaults_and_flash_attention(self, name: str, path: Path, fa_default: bool) -> None:
        with self.runner.step(f"app defaults {name}"):
            result = level_runs.app_defaults(path, self.hardware, self.texts, self.plan)
            self.data["app_defaults"] = {"level": name, **result}
        with self.runner.step(f"flash attention {'off' if fa_default else 'on'} {name}"):
            other, _plain = level_runs.speed_both_ways(
                path, self.plan, not fa_default, self.bandwidth
            )
            default = self.data["levels"].get(name)
            fa = {"level": name, "default": "on" if fa_default else "off"}
            fa["on" if fa_default else "off"] = default
            fa["off" if fa_default else "on"] = other
            self.data["flash_attention"] = fa


def level_runs_bandwidth(device: str, size: int) -> dict[str, Any]:
    from benchmarks.gpu.bandwidth import measure_bandwidth

    return measure_bandwidth(device, buffer_bytes=size).to_json()
