"""GPU offload benchmark: a Llama-3-8B-shaped model through Quantdesk on an NVIDIA GPU.

Builds llama-cpp-python with CUDA, writes a synthetic checkpoint, converts and quantizes it
with Quantdesk, then for each level measures full-offload speed through Quantdesk's worker and
through plain llama-cpp-python (same settings), predicted vs measured VRAM, a forced partial
offload and the share of the memory-bandwidth ceiling reached. Every step is logged with a
timestamp and ``results.json`` / ``results.md`` are rewritten after each one.

Run: ``python -m benchmarks.gpu.offload_bench --tokenizer DIR --results DIR [--sdist FILE]``;
rehearse on a CPU with ``--shape tiny --cpu-ok --skip-build``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from benchmarks.gpu import pipeline_steps as steps
from benchmarks.gpu.report import GIB, Results
from benchmarks.gpu.synthetic_llama import SHAPES
from benchmarks.gpu.timeline import Timeline

BUILD_SCRIPT = Path(__file__).resolve().with_name("build_cuda_llama.sh")


@dataclass(frozen=True, slots=True)
class ShapeDefaults:
    """What a run of this shape does unless told otherwise."""

    partial_budget_bytes: int  # pretended free VRAM for the partial offload (below the model)
    prompt_tokens: int
    gen_tokens: int
    repeats: int
    budget_minutes: float  # for everything after the build


#: The real run follows llama-bench (pp512, tg128, 3 runs); the tiny rehearsal on a CPU only
#: proves the code paths, so it keeps every run short and its budget small (some levels are
#: skipped for time, which rehearses that path too).
SHAPE_DEFAULTS: MappingProxyType[str, ShapeDefaults] = MappingProxyType(
    {
        "llama3-8b": ShapeDefaults(8 * GIB, 512, 128, 3, 16.0),
        "tiny": ShapeDefaults(600 * 1024**2, 128, 16, 2, 3.0),
    }
)


def build_llama_cpp(sdist: Path, wheel_dir: Path, site: Path, timeline: Timeline) -> None:
    """Build the CUDA wheel and install it into ``site`` (already on PYTHONPATH)."""
    subprocess.run(["bash", str(BUILD_SCRIPT), str(sdist), str(wheel_dir)], check=True)
    wheel = max(wheel_dir.glob("llama_cpp_python-*.whl"), key=lambda p: p.stat().st_mtime)
    timeline.log(f"installing {wheel.name} into {site}")
    install = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--upgrade"]
    subprocess.run([*install, "--target", str(site), str(wheel)], check=True)
    importlib.invalidate_caches()


def describe_machine(results: Results, cpu_ok: bool) -> Any:
    from benchmarks.gpu.nvml import device_facts
    from desktop.engine.hardware import probe_hardware

    hardware = probe_hardware()
    facts = device_facts()
    cuda = hardware.offload.supports_gpu_offload and any(
        g.kind == "CUDA" for g in hardware.usable_gpus
    )
    results.data["machine"] = {
        "gpu": f"{facts.get('name')} ({facts.get('total_bytes', 0) / GIB:.1f} GiB, driver "
        f"{facts.get('driver')})"
        if facts
        else "no NVIDIA GPU",
        "gpu_facts": facts,
        "cpu": f"{hardware.cpu.model}, {hardware.cpu.logical_cores} threads, "
        f"{hardware.ram_total_bytes / GIB:.0f} GiB RAM",
        "llama_cpp": hardware.offload.llama_cpp_version,
        "backends": ", ".join(hardware.offload.backends),
        "cuda_offload": cuda,
        "hardware": hardware.to_json(),
    }
    if not cuda and not cpu_ok:
        raise SystemExit(
            "This llama.cpp build cannot offload to a CUDA GPU here "
            f"({hardware.gpu_note or 'backends: ' + results.data['machine']['backends']}); "
            "pass --cpu-ok to rehearse the pipeline on the CPU."
        )
    return hardware


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--tokenizer", type=Path, required=True, help="tokenizer folder (llama-bpe)")
    add("--results", type=Path, required=True, help="folder for results.json and results.md")
    add("--work", type=Path, default=Path("/tmp/offload-bench"), help="scratch folder (models)")
    add("--shape", choices=sorted(SHAPES), default="llama3-8b")
    add("--sdist", type=Path, help="llama-cpp-python source distribution to build with CUDA")
    add("--site", type=Path, default=Path("/tmp/site"), help="where the CUDA wheel goes")
    add("--skip-build", action="store_true", help="use the installed llama-cpp-python")
    add("--cpu-ok", action="store_true", help="run even without CUDA offload (a rehearsal)")
    add("--levels", help="comma-separated levels instead of the time-budgeted ladder")
    add("--budget-minutes", type=float, help="time for everything after the build")
    add("--quantize-threads", type=int, default=os.cpu_count() or 1)
    add("--threads", type=int, help="llama.cpp threads for the speed runs (default: its own)")
    add("--repeats", type=int)
    add("--prompt-tokens", type=int)
    add("--gen-tokens", type=int)
    add("--ctx", type=int, default=4096, help="context of the speed runs")
    add("--keep-models", action="store_true", help="keep the checkpoint and every GGUF")
    args = parser.parse_args(argv)
    if not args.skip_build and args.sdist is None:
        parser.error("--sdist is needed unless --skip-build is given")
    defaults = SHAPE_DEFAULTS[args.shape]
    for name in ("prompt_tokens", "gen_tokens", "repeats", "budget_minutes"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(defaults, name))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    timeline = Timeline(budget_seconds=args.budget_minutes * 60)
    shape = SHAPES[args.shape]
    settings = {k: v for k, v in vars(args).items() if k not in ("tokenizer", "results", "work")}
    results = Results(
        args.results,
        {
            "shape_name": args.shape,
            "shape": repr(shape),
            "settings": {k: str(v) for k, v in settings.items()},
        },
    )
    runner = steps.StepRunner(results, timeline)
    if not args.skip_build:
        with runner.step("build"):
            build_llama_cpp(args.sdist, args.work / "wheels", args.site, timeline)
        if results.data["steps"]["build"]["status"] != "ok":
            return 1
    timeline.restart_budget()
    hardware = describe_machine(results, args.cpu_ok)
    args.work.mkdir(parents=True, exist_ok=True)
    results.data["machine"]["work_disk_free_bytes"] = shutil.disk_usage(args.work).free
    results.save()
    timeline.log(f"machine: {results.data['machine']['gpu']}; {results.data['machine']['cpu']}")
    pipeline = steps.Pipeline(
        runner=runner,
        hardware=hardware,
        shape=shape,
        tokenizer=args.tokenizer,
        work=args.work,
        plan=steps.SpeedPlan(
            args.ctx, args.prompt_tokens, args.gen_tokens, args.repeats, args.threads
        ),
        quantize_threads=args.quantize_threads,
        partial_budget=SHAPE_DEFAULTS[args.shape].partial_budget_bytes,
        keep_models=args.keep_models,
        on_gpu=bool(results.data["machine"]["cuda_offload"]),
    )
    pipeline.run(args.levels.split(",") if args.levels else None)
    results.save()  # the notes of the last levels skipped for time
    if not args.keep_models:
        shutil.rmtree(args.work / "models", ignore_errors=True)
    timeline.log(f"done; results in {args.results}")
    return 0 if not results.data["errors"] else 2


if __name__ == "__main__":
    sys.exit(main())
