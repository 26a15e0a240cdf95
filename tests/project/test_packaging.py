"""Shipping Quantdesk: resources found in every installation kind, the wheel, the frozen bundle.

The slow test builds the real one-folder bundle with PyInstaller, packs the Linux tarball,
unpacks it somewhere else and runs the app, a conversion and a chat from there with an
environment that cannot reach this virtualenv.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import gguf
import pytest

from converter import resources
from converter.resources import INSTALLED_SUBPATH, resource_path
from desktop.cli import main
from tests.conftest import REPO_ROOT
from tests.support.checkpoints import build_checkpoint

BUILD_SCRIPT = REPO_ROOT / "packaging" / "build.py"
PIP = (sys.executable, "-m", "pip")
SHIPPED_FILES = sorted(
    p.relative_to(REPO_ROOT / "resources").as_posix()
    for p in (REPO_ROOT / "resources").rglob("*")
    if p.is_file()
)


def test_resources_of_a_source_checkout() -> None:
    assert resource_path("eval", "the_time_machine.txt") == (
        REPO_ROOT / "resources" / "eval" / "the_time_machine.txt"
    )
    assert resource_path("icons", "quantdesk.svg").is_file()


def test_resources_of_a_frozen_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("recommended_models.json") == tmp_path / "resources" / (
        "recommended_models.json"
    )


def test_a_stray_resources_folder_is_not_taken_for_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another package's site-packages/resources (no marker file) is skipped."""
    stray, ours = tmp_path / "site-packages" / "resources", tmp_path / "prefix" / "resources"
    stray.mkdir(parents=True)
    ours.mkdir(parents=True)
    (ours / resources.MARKER_FILE).write_text("[Desktop Entry]\n")
    monkeypatch.setattr(resources, "_candidate_roots", lambda: (stray, ours))
    assert resource_path("styles") == ours / "styles"
    monkeypatch.setattr(resources, "_candidate_roots", lambda: (stray,))
    assert resource_path("styles") == stray / "styles"  # the caller reports the missing file


def test_installed_wheel_ships_and_finds_every_resource(tmp_path: Path) -> None:
    """A real wheel, installed into a fresh virtualenv (no dependencies needed to locate).

    Built from a copy of the project so setuptools' build folders stay out of the checkout.
    """
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("converter", "desktop", "resources"):
        shutil.copytree(REPO_ROOT / name, source / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), source],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheel_dir.glob("quantdesk-*.whl")
    data_prefix = f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.data/data/"
    with zipfile.ZipFile(wheel) as archive:
        shipped = sorted(
            name.removeprefix(data_prefix + INSTALLED_SUBPATH.as_posix() + "/")
            for name in archive.namelist()
            if name.startswith(data_prefix)
        )
    assert shipped == SHIPPED_FILES  # a new resources/ subfolder needs a data-files line

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [*PIP, "--python", python, "install", "-q", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
    )
    found = subprocess.run(
        [python, "-c", "from converter.resources import resource_path as r; print(r('eval'))"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    ).stdout.strip()
    assert Path(found) == venv / INSTALLED_SUBPATH / "eval"
    assert (Path(found) / "the_time_machine.txt").is_file()


def test_version_names_this_interpreter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("quantdesk 0.1.0\n")
    assert f"Python environment: {sys.executable}" in out
    assert "llama-cpp-python 0.3.36: " in out


def test_help_still_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--install-desktop-entry" in out and "convert" in out


def test_archive_keeps_one_top_folder_modes_and_links(tmp_path: Path) -> None:
    sys.path.insert(0, str(BUILD_SCRIPT.parent))
    try:
        import build as packaging_build
    finally:
        sys.path.remove(str(BUILD_SCRIPT.parent))
    bundle = tmp_path / "quantdesk"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "quantdesk").write_bytes(b"\x7fELF")
    (bundle / "quantdesk").chmod(0o755)
    (bundle / "_internal" / "libx.so.1").write_bytes(b"lib")
    (bundle / "_internal" / "libx.so").symlink_to("libx.so.1")
    name = packaging_build.archive_name("0.1.0", "Linux", "x86_64")
    assert name == "quantdesk-0.1.0-linux-x86_64.tar.gz"
    archive = packaging_build.make_tarball(bundle, tmp_path / name, "quantdesk-0.1.0-linux-x86_64")
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    top = "quantdesk-0.1.0-linux-x86_64"
    assert {n.split("/")[0] for n in members} == {top}
    assert members[f"{top}/quantdesk"].mode & 0o111
    assert members[f"{top}/_internal/libx.so"].issym()
    assert not list(tmp_path.glob(".*partial"))


# --- the real bundle -------------------------------------------------------------------


def bundle_env(home: Path) -> dict[str, str]:
    """No PYTHONPATH/PYTHONHOME, no virtualenv on PATH: only the bundle can run Python."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
        "QUANTDESK_HOME": str(home / "quantdesk"),
        "QUANTDESK_LIBRARY": str(home / "library"),
        "XDG_DATA_HOME": str(home / "share"),
    }


def run_bundle(
    executable: Path, home: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(executable), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=home,
        env=bundle_env(home),
        timeout=300,
    )


@pytest.fixture(scope="module")
def unpacked_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build with packaging/build.py, then unpack the tarball elsewhere: the bundle must not
    depend on where it was built."""
    dist = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, BUILD_SCRIPT, "--dist", dist, "--work", tmp_path_factory.mktemp("work")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (archive,) = dist.glob("quantdesk-0.1.0-linux-*.tar.gz")
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="tar")
    return unpacked / archive.name.removesuffix(".tar.gz")


@pytest.mark.slow
def test_bundle_holds_llama_cpp_qt_plugins_and_resources(unpacked_bundle: Path) -> None:
    internal = unpacked_bundle / "_internal"
    assert os.access(unpacked_bundle / "quantdesk", os.X_OK)
    assert (internal / "llama_cpp" / "lib" / "libllama.so").is_file()
    platforms = internal / "PySide6" / "Qt" / "plugins" / "platforms"
    assert {"libqoffscreen.so", "libqxcb.so"} <= {p.name for p in platforms.iterdir()}
    shipped = sorted(
        p.relative_to(internal / "resources").as_posix()
        for p in (internal / "resources").rglob("*")
        if p.is_file()
    )
    assert shipped == SHIPPED_FILES
    for left_out in ("torch", "transformers", "tests", "pytest"):
        assert not (internal / left_out).exists(), left_out


@pytest.mark.slow
def test_bundle_runs_its_own_python_and_llama_cpp(unpacked_bundle: Path, tmp_path: Path) -> None:
    result = run_bundle(unpacked_bundle / "quantdesk", tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "quantdesk 0.1.0"
    assert lines[1] == f"frozen bundle: {unpacked_bundle / 'quantdesk'}"
    llama_file = Path(lines[3].split(": ", 1)[1])
    assert llama_file.is_relative_to(unpacked_bundle / "_internal")


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.slow
def test_bundle_opens_the_main_window_and_exits_cleanly(
    unpacked_bundle: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "window.png"
    result = run_bundle(
        unpacked_bundle / "quantdesk",
        tmp_path,
        *("--quit-after-ms", "1500", "--report-startup", "--screenshot", str(shot)),
    )
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"^Main window shown \d+\.\d+ s after the process started \(\d+\.\d+ s of CPU\)\.$",
        result.stdout,
        re.M,
    )
    saved = re.search(r"^Screenshot saved: .* \((\d+)x(\d+)\)$", result.stdout, re.M)
    assert saved, result.stdout + result.stderr
    assert png_size(shot) == (int(saved[1]), int(saved[2]))
    assert png_size(shot)[0] >= 640


@pytest.mark.slow
def test_bundle_converts_and_chats(unpacked_bundle: Path, tmp_path: Path) -> None:
    """Both spawn llama.cpp worker processes: the frozen executable must start them."""
    checkpoint = build_checkpoint("qwen3", tmp_path / "tiny-qwen3")
    out = tmp_path / "out"
    executable = unpacked_bundle / "quantdesk"
    converted = run_bundle(
        executable,
        tmp_path,
        "convert",
        str(checkpoint),
        "--out",
        str(out),
        "--quant",
        "Q8_0",
        "--json",
    )
    assert converted.returncode == 0, converted.stderr
    files = json.loads(converted.stdout)["files"]
    assert [f["level"] for f in files] == ["F16", "Q8_0"]
    q8 = gguf.GGUFReader(out / "tiny-qwen3-Q8_0.gguf")
    q8_types = {t.name: t.tensor_type for t in q8.tensors}
    assert q8_types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0

    chat = run_bundle(
        executable,
        tmp_path,
        *("chat", str(out / "tiny-qwen3-Q8_0.gguf"), "--threads", "1"),
        *("--temp", "0", "--max-tokens", "6"),
        stdin="Hello there\n",
    )
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()
    assert re.search(r"^6 tokens · .* stop: max_tokens$", chat.stderr, re.M), chat.stderr


@pytest.mark.slow
def test_bundle_installs_a_desktop_entry_that_starts_it(
    unpacked_bundle: Path, tmp_path: Path
) -> None:
    executable = unpacked_bundle / "quantdesk"
    installed = run_bundle(executable, tmp_path, "--install-desktop-entry")
    assert installed.returncode == 0, installed.stderr
    entry = (tmp_path / "share" / "applications" / "quantdesk.desktop").read_text()
    assert f"\nExec={executable}\n" in entry
    assert f"\nTryExec={executable}\n" in entry
    started = run_bundle(executable, tmp_path, "--quit-after-ms", "300")
    assert started.returncode == 0, started.stderr
    removed = run_bundle(executable, tmp_path, "--uninstall-desktop-entry")
    assert removed.returncode == 0 and "Removed 4 file(s)" in removed.stdout
