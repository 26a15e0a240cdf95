"""Start-up without the X11 libraries Qt's xcb plugin needs: one clear install command.

A missing library is simulated for the real dynamic loader: a broken file of the same name in
a folder on ``LD_LIBRARY_PATH`` is found first, so ``dlopen`` fails exactly as it does for Qt
(the last test shows Qt itself failing the same way when the check is skipped).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.services.xcb_libraries import (
    MISSING_LIBRARIES_EXIT,
    XCB_PLUGIN_LIBRARIES,
    check_before_qt,
    missing_libraries,
    uses_xcb,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 is Linux's")


def _environment(tmp_path: Path, *, broken: tuple[str, ...], tools: tuple[str, ...]) -> dict:
    libs = tmp_path / "libs"
    libs.mkdir()
    for soname in broken:
        (libs / soname).write_bytes(b"")  # "file too short": the loader cannot use it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:  # which package manager the machine has
        (bin_dir / tool).symlink_to("/bin/true")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(
        QT_QPA_PLATFORM="xcb",
        LD_LIBRARY_PATH=str(libs),
        PATH=str(bin_dir),
        QUANTDESK_HOME=str(tmp_path / "home"),
        QUANTDESK_LIBRARY=str(tmp_path / "library"),
    )
    return env


def _run_app(env: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop.cli", "app", "--quit-after-ms", "100"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_missing_cursor_library_prints_the_apt_command(tmp_path: Path) -> None:
    env = _environment(tmp_path, broken=("libxcb-cursor.so.0",), tools=("apt-get",))
    result = _run_app(env)
    assert result.returncode == MISSING_LIBRARIES_EXIT, result.stderr
    assert "libxcb-cursor.so.0" in result.stderr
    assert "    sudo apt-get install libxcb-cursor0" in result.stderr
    (command,) = [line for line in result.stderr.splitlines() if "apt-get" in line]
    packages = command.split()[3:]
    expected = ["libxcb-cursor0", *(lib.apt for lib in missing_libraries())]
    assert sorted(packages) == sorted(dict.fromkeys(expected))  # nothing else, none twice
    assert "Qt platform plugin" not in result.stderr  # Qt was never asked to start


@pytest.mark.parametrize(
    ("tool", "command"),
    [
        ("dnf", "sudo dnf install xcb-util-cursor"),
        ("pacman", "sudo pacman -S xcb-util-cursor"),
    ],
)
def test_other_package_managers_get_their_package_names(
    tmp_path: Path, tool: str, command: str
) -> None:
    broken = ("libxcb-cursor.so.0",)
    result = _run_app(_environment(tmp_path, broken=broken, tools=(tool,)))
    assert result.returncode == MISSING_LIBRARIES_EXIT
    assert f"    {command}" in result.stderr
    assert "apt-get" not in result.stderr


def test_without_a_known_package_manager_all_three_commands_are_given(tmp_path: Path) -> None:
    result = _run_app(_environment(tmp_path, broken=("libxkbcommon-x11.so.0",), tools=()))
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert sum(line.startswith("sudo apt-get install ") for line in lines) == 1
    assert sum(line.startswith("sudo dnf install ") for line in lines) == 1
    assert sum(line.startswith("sudo pacman -S ") for line in lines) == 1
    assert "libxkbcommon-x11-0" in result.stderr  # apt's name; dnf and pacman drop the -0


def test_the_same_broken_library_makes_qt_itself_fail(tmp_path: Path) -> None:
    """Proof that the simulation is what Qt meets: with the check skipped, Qt gives up."""
    env = _environment(tmp_path, broken=("libxcb-cursor.so.0",), tools=())
    env["QUANTDESK_SKIP_LIBRARY_CHECK"] = "1"
    result = _run_app(env)
    assert result.returncode != 0
    assert 'platform plugin "xcb"' in result.stderr


def test_this_machine_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No simulation: what this machine really lacks is named, or the window opens."""
    missing = missing_libraries()
    result = _run_app(_environment(tmp_path, broken=(), tools=("apt-get",)))
    if missing:
        assert result.returncode == MISSING_LIBRARIES_EXIT
        for library in missing:
            assert library.apt in result.stderr
    else:
        assert "Quantdesk cannot open" not in result.stderr  # Qt itself was started
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert check_before_qt() is None  # offscreen draws without X11


def test_which_platform_qt_will_use() -> None:
    assert uses_xcb({}, "linux")
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb:foo"}, "linux")
    assert not uses_xcb({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux")
    assert not uses_xcb({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not uses_xcb({}, "darwin")
    assert len({lib.soname for lib in XCB_PLUGIN_LIBRARIES}) == len(XCB_PLUGIN_LIBRARIES)
