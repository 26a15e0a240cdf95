"""The one progress line of ``quantdesk quantize``, ``download`` and ``chat``, on a real terminal
(a pseudo-terminal as stderr) and on a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from converter.paths import library_dir
from desktop import cli
from desktop.commands.model_argument import find_model
from tests.conftest import REPO_ROOT
from tests.support import worker_helpers
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.hub_server import FakeHub, FakeRepo, serve

tiny_model = worker_helpers.tiny_model

COLUMNS = 72
ERASE_LINE = "\r\x1b[K"
DIM, RESET = "\x1b[2m", "\x1b[0m"


def run_on_terminal(
    *arguments: str, stdin: str = "", columns: int = COLUMNS
) -> tuple[int, str, str]:
    """Run ``quantdesk ARGUMENTS`` with stderr on a terminal ``columns`` wide.

    Returns the exit status, stdout, and what the terminal received (its ``\\r\\n`` line ends,
    the terminal's own, read as ``\\n``).
    """
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop.cli", *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=follower,
        cwd=REPO_ROOT,
    )
    os.close(follower)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(stdin.encode())
    process.stdin.close()
    received = bytearray()
    try:
        while chunk := _read(leader):
            received += chunk
    finally:
        os.close(leader)
    out = process.stdout.read().decode()
    process.stdout.close()
    status = process.wait(timeout=120)
    return status, out, received.decode().replace("\r\n", "\n")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: every process holding the terminal has closed it
        return b""


def redraws(terminal_text: str) -> list[str]:
    """Each state the progress line was drawn in, in order."""
    return [part.split("\n")[0] for part in terminal_text.split(ERASE_LINE)[1:]]


@pytest.fixture(scope="module")
def f16_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("terminal") / "tiny-F16.gguf")


def test_quantize_redraws_one_line_on_a_terminal(f16_model: Path, tmp_path: Path) -> None:
    status, out, terminal = run_on_terminal(
        "quantize", str(f16_model), "--level", "Q8_0,Q4_0", "--out", str(tmp_path)
    )
    assert status == 0, terminal
    assert terminal.count("\n") == 1 and terminal.endswith("\n")  # one line, ended at the end
    states = redraws(terminal)
    assert len(states) > 4
    assert all(len(state) < COLUMNS for state in states)  # cut to the terminal's width
    assert states[0].startswith("quantize Q8_0") and states[-1].startswith("quantize Q4_0")
    counts = [re.search(r"(\d+)/(\d+) tensors", state) for state in states]
    done = [int(match.group(1)) for match in counts if match]
    assert len(done) == len(states) and done == sorted(done)  # both levels, counted as one job
    final = re.search(r"\[(#+)\] 100%  (\d+)/(\d+) tensors", states[-1])
    assert final is not None and final.group(2) == final.group(3)
    assert len(out.splitlines()) == 2  # the written files go to stdout, as on a pipe


def test_quantize_writes_one_plain_line_per_level_on_a_pipe(
    f16_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--level", "Q8_0,Q4_0", "--out", str(tmp_path), "--threads", "2"]
    assert cli.main(["quantize", str(f16_model), *arguments]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "quantize Q8_0: tiny-F16.gguf",
        "quantize Q4_0: tiny-F16.gguf",
    ]


def test_chat_load_progress_is_dimmed_and_replaced_by_the_load_notes(tiny_model: Path) -> None:
    status, out, terminal = run_on_terminal(
        "chat", str(tiny_model), "--threads", "1", "--temp", "0", "--max-tokens", "2", stdin="Hi\n"
    )
    assert status == 0, terminal
    states = redraws(terminal)
    loading = [state for state in states if state.startswith(f"{DIM}loading")]
    assert loading and all(state.endswith(RESET) for state in loading)
    assert "100%" in loading[-1]
    notes = terminal.rsplit(ERASE_LINE, 1)[1].splitlines()  # what replaced the progress line
    assert notes[0].startswith(f"{DIM}tiny random test model: llama, F16")
    assert all(note.startswith(DIM) and note.endswith(RESET) for note in notes)
    assert not any("loading" in note for note in notes)  # erased, not left above the notes
    assert out.strip()  # the reply itself still goes to stdout


@pytest.fixture
def gguf_hub(monkeypatch: pytest.MonkeyPatch, f16_model: Path) -> Iterator[FakeHub]:
    hub = serve(monkeypatch, FakeRepo("org/tiny-GGUF", {"tiny-F16.gguf": f16_model.read_bytes()}))
    yield hub
    hub.stop()


def test_download_shows_a_bar_and_the_amount_on_a_terminal(
    gguf_hub: FakeHub, f16_model: Path, tmp_path: Path
) -> None:
    arguments = ("download", "org/tiny-GGUF", "--out", str(tmp_path))
    status, out, terminal = run_on_terminal(*arguments, columns=160)
    assert status == 0, terminal
    assert Path(out.strip()).read_bytes() == f16_model.read_bytes()
    assert terminal.count("\n") == 1 and terminal.endswith("\n")
    final = redraws(terminal)[-1]
    # the amount comes once, in the download's own words
    assert re.fullmatch(r"download +\[#+\] 100%  tiny-F16\.gguf: [\d.]+ MiB of [\d.]+ MiB.*", final)


def test_a_download_into_the_library_says_the_name_to_chat_with(
    gguf_hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["download", "org/tiny-GGUF"]) == 0
    out, err = capsys.readouterr()
    assert Path(out.strip()) == library_dir() / "tiny-F16.gguf"
    assert err.rstrip().endswith("Chat with it: quantdesk chat tiny-F16")
    assert find_model("tiny-F16") == library_dir() / "tiny-F16.gguf"
