"""Start-up time of the app: process start → main window first shown, over several runs.

    python packaging/measure_startup.py [--bundle DIST/quantdesk] [--runs 5]

Runs the source checkout's app (this interpreter) and, with ``--bundle``, the frozen one,
alternately, each with ``--report-startup --quit-after-ms``, headless (``offscreen``) and with
fresh settings, and prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

#: The line ``quantdesk app --report-startup`` prints (desktop/ui/startup_probe.py).
SHOWN = re.compile(
    r"^Main window shown (\d+\.\d+) s after the process started \((\d+\.\d+) s of CPU\)\.$",
    re.MULTILINE,
)


def one_run(command: list[str], home: Path) -> tuple[float, float]:
    """(wall, CPU) seconds from process start to the first frame of the main window."""
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "QUANTDESK_HOME": str(home),
        "QUANTDESK_LIBRARY": str(home / "library"),
    }
    result = subprocess.run(
        [*command, "app", "--report-startup", "--quit-after-ms", "200"],
        capture_output=True,
        text=True,
        cwd=home,
        env=env,
        timeout=120,
        check=False,
    )
    found = SHOWN.search(result.stdout)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"{command[0]} failed (exit {result.returncode}):\n{result.stderr}")
    return float(found[1]), float(found[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="one-folder bundle to measure too")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    variants = {"source checkout": [sys.executable, "-m", "desktop.cli"]}
    if args.bundle is not None:
        variants["bundle"] = [str(args.bundle.resolve() / "quantdesk")]
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(args.runs + 1):  # the first round warms the page cache, not counted
            for name, command in variants.items():
                measured = one_run(command, Path(scratch))
                if run:
                    timings[name].append(measured)
    load = os.getloadavg()[0]
    print(f"load average during the runs: {load:.1f} on {os.cpu_count()} CPUs")
    print("| variant | wall median s | wall min–max s | CPU median s | runs |")
    print("|---|---|---|---|---|")
    for name, values in timings.items():
        wall, cpu = [v[0] for v in values], [v[1] for v in values]
        print(
            f"| {name} | {statistics.median(wall):.2f} | {min(wall):.2f}–{max(wall):.2f} | "
            f"{statistics.median(cpu):.2f} | {len(values)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
