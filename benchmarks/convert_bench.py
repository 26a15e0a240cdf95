"""Conversion speed and peak memory: ``quantdesk convert`` vs llama.cpp's convert_hf_to_gguf.py.

Writes synthetic bf16 Llama checkpoints (``--sizes``, see benchmarks/synthetic_checkpoint.py),
converts each with both tools as separate processes of the same Python and the same output
type, measures every run on its own (benchmarks/process_peak.py) and checks that both outputs
hold the same tensors with the same bytes, so the two did the same work. The page cache is
warmed with the checkpoint before every run, and written data is flushed after it, so neither
tool pays for the other's disk traffic. Prints a Markdown table.

Run: ``python -m benchmarks.convert_bench [--sizes small,large] [--outtypes f16,bf16]
[--workdir DIR] [--keep] [--llama-cpp-src DIR] [--repeat N]``
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.gguf_parity import Parity, compare_outputs
from benchmarks.process_peak import Measurement, measure
from benchmarks.synthetic_checkpoint import SIZES, LlamaShape, self_check, write_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20
LLAMA_CPP_DIST = "llama-cpp-python"
UPSTREAM_SCRIPT = "convert_hf_to_gguf.py"
#: Output types both converters write the same way (llama.cpp's q8_0 and "auto" are left out).
OUTTYPES = ("f16", "bf16")
TOOLS = ("quantdesk", "llama.cpp")


@dataclass(frozen=True, slots=True)
class ToolRun:
    size: str
    outtype: str
    tool: str
    runs: tuple[Measurement, ...]
    output_bytes: int

    def median(self, field: Callable[[Measurement], float]) -> float:
        return statistics.median(field(run) for run in self.runs)

    def peak(self, field: Callable[[Measurement], int]) -> int:
        return max(field(run) for run in self.runs)


def llama_cpp_tree(source: Path | None, workdir: Path) -> Path:
    """The llama.cpp folder (holding convert_hf_to_gguf.py) of the installed llama-cpp-python's
    source distribution: ``source`` if given (sdist root or llama.cpp folder), else downloaded."""
    if source is None:
        source = _download_sdist(workdir / "sdist")
    for candidate in (source, source / "vendor" / "llama.cpp"):
        if (candidate / UPSTREAM_SCRIPT).is_file() and (candidate / "gguf-py").is_dir():
            return candidate
    raise SystemExit(f"{source} holds no {UPSTREAM_SCRIPT} with gguf-py beside it")


def _download_sdist(folder: Path) -> Path:
    version = importlib.metadata.version(LLAMA_CPP_DIST)
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         f"{LLAMA_CPP_DIST}=={version}", "--dest", str(folder)],
        check=True,
    )  # fmt: skip
    (archive,) = folder.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    (unpacked,) = (path for path in folder.iterdir() if path.is_dir())
    return unpacked


def _ours_command(checkpoint: Path, out_dir: Path, outtype: str) -> list[str]:
    """The installed ``quantdesk`` console script, or its module when the script is absent."""
    script = Path(sys.executable).with_name("quantdesk")
    cli = [str(script)] if script.is_file() else [sys.executable, "-m", "desktop.cli"]
    return [*cli, "convert", str(checkpoint), "--out", str(out_dir), "--outtype", outtype]


def _theirs_command(tree: Path, checkpoint: Path, out_dir: Path, outtype: str) -> list[str]:
    out = out_dir / f"{checkpoint.name}-{outtype}.gguf"
    return [sys.executable, str(tree / UPSTREAM_SCRIPT), str(checkpoint),
            "--outfile", str(out), "--outtype", outtype]  # fmt: skip


def _environment(python_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(python_path), "HF_HUB_OFFLINE": "1"}


def warm_page_cache(folder: Path) -> None:
    """Read every file once so that each run starts with the checkpoint in memory."""
    for path in sorted(folder.iterdir()):
        with path.open("rb") as stream:
            while stream.read(64 * MIB):
                pass


def _run_tool(
    tool: str, checkpoint: Path, out_dir: Path, outtype: str, tree: Path
) -> tuple[Measurement, Path]:
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    if tool == "quantdesk":
        command, env = _ours_command(checkpoint, out_dir, outtype), _environment(REPO_ROOT)
    else:
        command = _theirs_command(tree, checkpoint, out_dir, outtype)
        env = _environment(tree / "gguf-py")
    warm_page_cache(checkpoint)
    result = measure(command, log=out_dir.with_suffix(".log"), env=env, cwd=REPO_ROOT)
    os.sync()  # untimed: the next run must not pay for this one's write-back
    (output,) = out_dir.glob("*.gguf")
    return result, output


def bench_size(
    size: str, shape: LlamaShape, outtypes: Sequence[str], args: argparse.Namespace, tree: Path
) -> tuple[list[ToolRun], list[Parity]]:
    checkpoint = args.workdir / f"llama-{size}"
    started = time.perf_counter()
    write_checkpoint(shape, checkpoint)
    os.sync()
    print(f"{size}: wrote {shape.parameters / 1e6:.0f}M parameters, {shape.nbytes / 1e9:.2f} GB "
          f"in {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    tool_runs: list[ToolRun] = []
    parities: list[Parity] = []
    for outtype in outtypes:
        runs: dict[str, list[Measurement]] = {tool: [] for tool in TOOLS}
        outputs: dict[str, Path] = {}
        for repeat in range(args.repeat):
            order = TOOLS if repeat % 2 == 0 else TOOLS[::-1]  # alternate who goes first
            for tool in order:
                out_dir = args.workdir / f"out-{size}-{outtype}-{tool}"
                result, outputs[tool] = _run_tool(tool, checkpoint, out_dir, outtype, tree)
                runs[tool].append(result)
                print(f"  {outtype} {tool}: {result.wall_s:.1f} s ({result.cpu_s:.1f} s CPU), "
                      f"peak RSS {result.peak_rss / MIB:.0f} MiB, process tree "
                      f"{result.peak_tree_rss / MIB:.0f} MiB of which anonymous "
                      f"{result.peak_tree_anon / MIB:.0f} MiB", flush=True)  # fmt: skip
        label = f"{size} {outtype}"
        parity = compare_outputs(outputs["quantdesk"], outputs["llama.cpp"], shape.layers, label)
        print(f"  {outtype} outputs: {parity.summary()}", flush=True)
        parities.append(parity)
        for tool in TOOLS:
            size_bytes = outputs[tool].stat().st_size
            tool_runs.append(ToolRun(size, outtype, tool, tuple(runs[tool]), size_bytes))
            if not args.keep:
                shutil.rmtree(outputs[tool].parent)
    if not args.keep:
        shutil.rmtree(checkpoint)
    return tool_runs, parities


def machine_description(workdir: Path) -> str:
    """CPU, cores, RAM and the disk the benchmark wrote to, in one line."""
    from desktop.engine.hardware import probe_hardware

    hw = probe_hardware()
    mount = max(
        (p for p in psutil.disk_partitions() if workdir.resolve().is_relative_to(p.mountpoint)),
        key=lambda p: len(p.mountpoint),
    )
    disk = shutil.disk_usage(workdir)
    return (
        f"{hw.cpu.model}, {hw.cpu.logical_cores} logical cores, "
        f"{hw.ram_total_bytes / 2**30:.1f} GiB RAM, disk {mount.device} ({mount.fstype}, "
        f"{disk.total / 2**30:.0f} GiB, {disk.free / 2**30:.0f} GiB free), {platform.system()}"
    )


def versions() -> str:
    names = ("numpy", "torch", "transformers", "gguf", LLAMA_CPP_DIST)
    listed = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in names)
    return f"Python {platform.python_version()}, {listed}"


def table(tool_runs: list[ToolRun], parities: list[Parity], repeat: int) -> str:
    lines = [
        "| model | out | tool | wall s | CPU s | peak RSS MiB | peak anon MiB | output MiB "
        "| wall ours/theirs | peak RSS ours/theirs |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_key = {(r.size, r.outtype, r.tool): r for r in tool_runs}
    for r in tool_runs:
        theirs = by_key[(r.size, r.outtype, "llama.cpp")]
        ratios = "| |"
        if r.tool == "quantdesk":
            wall = r.median(lambda m: m.wall_s) / theirs.median(lambda m: m.wall_s)
            peak = r.peak(lambda m: m.peak_rss) / theirs.peak(lambda m: m.peak_rss)
            ratios = f"| {wall:.2f} | {peak:.2f} |"
        shape = SIZES[r.size]
        lines.append(
            f"| {r.size} ({shape.nbytes / 1e9:.2f} GB) | {r.outtype} | {r.tool} "
            f"| {r.median(lambda m: m.wall_s):.1f} | {r.median(lambda m: m.cpu_s):.1f} "
            f"| {r.peak(lambda m: m.peak_rss) / MIB:.0f} "
            f"| {r.peak(lambda m: m.peak_tree_anon) / MIB:.0f} "
            f"| {r.output_bytes / MIB:.0f} {ratios}"
        )
    notes = [f"- {p.label}: {p.summary()}" for p in parities]
    times = "median of" if repeat > 1 else "one run of"
    return "\n".join([*lines, "", f"Times: {times} {repeat} per tool. Outputs:", *notes])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,large", help=f"of {', '.join(SIZES)}")
    parser.add_argument("--outtypes", default="f16,bf16", help="of f16, bf16")
    parser.add_argument("--workdir", type=Path, help="folder for checkpoints and outputs")
    parser.add_argument("--keep", action="store_true", help="keep checkpoints and outputs")
    parser.add_argument("--llama-cpp-src", type=Path, help="unpacked llama-cpp-python sdist")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool (median time)")
    parser.add_argument("--no-self-check", action="store_true", help="skip the layout check")
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    outtypes = [t for t in args.outtypes.split(",") if t]
    if unknown := [s for s in sizes if s not in SIZES] + [t for t in outtypes if t not in OUTTYPES]:
        parser.error(f"unknown size or output type: {', '.join(unknown)}")
    made_workdir = args.workdir is None
    args.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="convert-bench-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        tree = llama_cpp_tree(args.llama_cpp_src, args.workdir)
        if not args.no_self_check:
            self_check(args.workdir / "self-check")
            print("self-check: synthetic layout matches transformers' save_pretrained")
        print(f"{datetime.date.today()}; {machine_description(args.workdir)}")
        print(versions(), flush=True)
        tool_runs: list[ToolRun] = []
        parities: list[Parity] = []
        for size in sizes:
            runs, checks = bench_size(size, SIZES[size], outtypes, args, tree)
            tool_runs += runs
            parities += checks
        print()
        print(table(tool_runs, parities, args.repeat))
    finally:
        if not args.keep:
            shutil.rmtree(args.workdir / "self-check", ignore_errors=True)
            if made_workdir:
                shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
