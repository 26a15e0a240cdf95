"""The Linux menu entry: files where the XDG specs put them, an Exec line that really starts
the app, and an uninstall that removes exactly what install wrote.

Exec quoting is checked against POSIX ``sh``: the Desktop Entry spec's double-quote rules
(escape ``"`$\\``) are the shell's, so the shell is an independent reference parser.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from converter.errors import OutputError, QuantdeskError
from desktop.cli import main
from desktop.services import desktop_entry
from tests.conftest import REPO_ROOT

ICONS = REPO_ROOT / "resources" / "icons"


def read_entry(path: Path) -> dict[str, str]:
    """Keys of the [Desktop Entry] group, values with the spec's string escapes undone."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    pairs = (line.split("=", 1) for line in lines[1:] if line and not line.startswith("#"))
    return {key: value.replace("\\\\", "\\") for key, value in pairs}


def shell_words(exec_value: str) -> list[str]:
    """Split an Exec value (string escapes already undone) the way the spec says: as sh does."""
    assert "%" not in exec_value.replace("%%", "")  # no field codes, only literal percent signs
    script = 'for a in "$@"; do printf "%s\\0" "$a"; done'
    words = subprocess.run(
        ["sh", "-c", f"set -- {exec_value.replace('%%', '%')}; {script}"],
        capture_output=True,
        check=True,
    ).stdout
    return words.decode().split("\0")[:-1]


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_install_writes_entry_and_icons_in_the_xdg_folders(tmp_path: Path) -> None:
    files = desktop_entry.install_desktop_entry(tmp_path)
    assert files.entry == tmp_path / "applications" / "quantdesk.desktop"
    entry = read_entry(files.entry)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Quantdesk"
    assert entry["Icon"] == "quantdesk"
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")
    # From a virtualenv the entry starts this environment's quantdesk-app script.
    script = Path(sys.executable).parent / "quantdesk-app"
    assert shell_words(entry["Exec"]) == [str(script)]
    assert entry["TryExec"] == str(script)
    assert os.access(entry["TryExec"], os.X_OK)
    hicolor = tmp_path / "icons" / "hicolor"
    for size in (64, 256):
        icon = hicolor / f"{size}x{size}" / "apps" / "quantdesk.png"
        assert icon.read_bytes() == (ICONS / f"quantdesk-{size}.png").read_bytes()
        assert png_size(icon) == (size, size)  # the theme folder must match the picture
    assert (hicolor / "scalable" / "apps" / "quantdesk.svg").read_bytes() == (
        ICONS / "quantdesk.svg"
    ).read_bytes()
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize(
    "argument",
    [
        "/opt/My Apps/quantdesk",
        '/home/o"neil/$HOME/`x`/quantdesk',
        "/tmp/back\\slash/100%/quantdesk",
        "/tmp/semi;colon & pipe|(paren)*?#~<>/quantdesk",
    ],
)
def test_exec_quoting_survives_any_path(argument: str) -> None:
    line = desktop_entry.exec_line([argument, "app"])
    unescaped = line.replace("\\\\", "\\")  # the string-level escape, undone first
    assert shell_words(unescaped) == [argument, "app"]


def test_a_path_with_a_line_break_is_refused(tmp_path: Path) -> None:
    with pytest.raises(QuantdeskError, match="line break"):
        desktop_entry.install_desktop_entry(tmp_path, command=["/tmp/a\nb/quantdesk"])
    assert not (tmp_path / "applications" / "quantdesk.desktop").exists()


def test_the_exec_line_starts_the_app(tmp_path: Path) -> None:
    """Install with a command from a folder with spaces, then run what the menu would run."""
    folder = tmp_path / "data home"
    command = [sys.executable, "-m", "desktop.cli", "app"]
    files = desktop_entry.install_desktop_entry(folder, command=command)
    argv = shell_words(read_entry(files.entry)["Exec"])
    assert argv == command
    started = subprocess.run(
        [*argv, "--quit-after-ms", "200"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr


def test_cli_flags_use_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["--install-desktop-entry"]) == 0
    assert str(tmp_path / "applications" / "quantdesk.desktop") in capsys.readouterr().out
    unrelated = tmp_path / "applications" / "other.desktop"
    unrelated.write_text("[Desktop Entry]\n")
    assert main(["--uninstall-desktop-entry"]) == 0
    assert "Removed 4 file(s)" in capsys.readouterr().out
    assert not list((tmp_path / "icons").rglob("quantdesk.*"))
    assert unrelated.exists()
    assert main(["--uninstall-desktop-entry"]) == 0  # nothing left: still fine
    assert "Removed 0 file(s)" in capsys.readouterr().out


def test_relative_xdg_data_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/share")
    assert desktop_entry.xdg_data_home() == tmp_path / ".local" / "share"


def test_reinstall_replaces_the_old_entry(tmp_path: Path) -> None:
    desktop_entry.install_desktop_entry(tmp_path, command=["/old/quantdesk"])
    files = desktop_entry.install_desktop_entry(tmp_path, command=["/new/quantdesk"])
    assert read_entry(files.entry)["Exec"] == "/new/quantdesk"


def test_unwritable_destination_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(OutputError, match="Cannot create the output folder"):
        desktop_entry.install_desktop_entry(blocker / "share")


def test_other_systems_are_told_what_to_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(QuantdeskError, match=r"Quantdesk\.app"):
        desktop_entry.install_desktop_entry(tmp_path)
    assert not any(tmp_path.iterdir())
