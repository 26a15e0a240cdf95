"""Build the standalone Quantdesk bundle for this platform, and on Linux its tarball.

    python packaging/build.py [--dist DIR] [--work DIR] [--no-archive]

Runs PyInstaller on ``packaging/quantdesk.spec`` (one folder ``DIST/quantdesk``; on macOS also
``DIST/Quantdesk.app``) and packs the Linux folder as
``DIST/quantdesk-<version>-linux-<machine>.tar.gz`` with one top-level folder. PyInstaller
comes from the ``packaging`` extra: ``pip install -e ".[packaging]"``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import subprocess
import sys
import tarfile
import time
from pathlib import Path

PACKAGING_DIR = Path(__file__).resolve().parent
REPO = PACKAGING_DIR.parent
SPEC = PACKAGING_DIR / "quantdesk.spec"
#: Name of the one-folder build under the dist folder (COLLECT's name in the spec).
BUNDLE_NAME = "quantdesk"


class BuildError(RuntimeError):
    """PyInstaller is missing or failed; the message says what to do."""


def version() -> str:
    return importlib.metadata.version("quantdesk")


def archive_name(version_text: str, system: str | None = None, machine: str | None = None) -> str:
    """``quantdesk-0.1.0-linux-x86_64.tar.gz``."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    return f"quantdesk-{version_text}-{system}-{machine}.tar.gz"


def run_pyinstaller(dist: Path, work: Path) -> Path:
    """Build the one-folder bundle; returns its folder (``dist/quantdesk``)."""
    try:
        import PyInstaller  # noqa: F401  (only checks that it is installed)
    except ImportError:
        raise BuildError(
            'PyInstaller is not installed; run: pip install -e ".[packaging]"'
        ) from None
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level=WARN",
        f"--distpath={dist}",
        f"--workpath={work}",
        str(SPEC),
    ]
    result = subprocess.run(command, cwd=REPO, check=False)
    if result.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit code {result.returncode}); see its log above.")
    bundle = dist / BUNDLE_NAME
    if not (bundle / BUNDLE_NAME).exists() and not (bundle / f"{BUNDLE_NAME}.exe").exists():
        raise BuildError(f"PyInstaller finished but {bundle} has no {BUNDLE_NAME} executable.")
    return bundle


def make_tarball(bundle: Path, archive: Path, top_folder: str, compresslevel: int = 6) -> Path:
    """Pack ``bundle`` under ``top_folder/`` keeping modes and symlinks; written atomically."""
    partial = archive.with_name(f".{archive.name}.partial")
    try:
        with tarfile.open(partial, "w:gz", compresslevel=compresslevel) as tar:
            tar.add(bundle, arcname=top_folder)
        partial.replace(archive)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return archive


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the standalone Quantdesk bundle.")
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="output folder")
    parser.add_argument("--work", type=Path, default=REPO / "build", help="PyInstaller's cache")
    parser.add_argument(
        "--no-archive", action="store_true", help="skip the Linux tarball (quicker)"
    )
    args = parser.parse_args(argv)
    dist, work = args.dist.resolve(), args.work.resolve()
    started = time.monotonic()
    try:
        bundle = run_pyinstaller(dist, work)
    except BuildError as exc:
        print(f"build: {exc}", file=sys.stderr)
        return 1
    print(f"bundle: {bundle} ({folder_size(bundle) / 1024**2:.0f} MiB)")
    print(f"built in {time.monotonic() - started:.0f} s")
    if sys.platform.startswith("linux") and not args.no_archive:
        name = archive_name(version())
        archive = make_tarball(bundle, dist / name, top_folder=name.removesuffix(".tar.gz"))
        print(f"archive: {archive} ({archive.stat().st_size / 1024**2:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
