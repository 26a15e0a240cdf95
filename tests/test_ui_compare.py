"""Compare two real levels side by side, measure the ladder, and keep the GUI responsive."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from converter.progress import run_job
from converter.quantize import quantize_gguf
from desktop.ui.main_window import COMPARE_TAB, MainWindow
from tests.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    put_in_library,
    tiny_f16_fixture,
    wait_until,
)

FAST_MEASURE = {
    "ctx_tokens": 64,
    "max_chunks": 2,
    "speed_repeats": 1,
    "prompt_tokens": 16,
    "gen_tokens": 4,
    "threads": 1,
}


#: Runs in a separate process: the longest gap of a 10 ms sleep loop, i.e. how long the OS
#: itself kept a ready process from running (the test machine's cores are shared).
_OS_PROBE = """
import select, sys, time
last = time.monotonic(); longest = 0.0
while not select.select([sys.stdin], [], [], 0.01)[0]:
    now = time.monotonic(); longest = max(longest, now - last - 0.01); last = now
print(longest)
"""
STALL_BUDGET_S = 0.1


class StallProbe:
    """The longest gap between ticks of a 10 ms timer on the GUI thread, and the same for an
    idle process beside it, so that time the OS gave to other programs is not counted."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._start = self._last = time.monotonic()
        self.stalls: list[tuple[float, float]] = []  # (when, how long), for the failure message
        self._os_probe = subprocess.Popen(
            [sys.executable, "-c", _OS_PROBE], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._on_tick)
        self._start = self._last = time.monotonic()  # after starting the probe process
        self.timer.start()

    def _on_tick(self) -> None:
        now = time.monotonic()
        if now - self._last > 0.05:
            self.stalls.append((round(self._last - self._start, 3), round(now - self._last, 3)))
        self.longest = max(self.longest, now - self._last)
        self._last = now

    def stop(self) -> tuple[float, float]:
        """(longest GUI stall, longest OS stall of the idle process) in seconds."""
        self.timer.stop()
        out, _ = self._os_probe.communicate(b"", timeout=30)
        return self.longest, float(out)


def assert_responsive(probe: StallProbe) -> None:
    gui, os_stall = probe.stop()
    assert gui < STALL_BUDGET_S + os_stall, f"GUI stalls {probe.stalls}; OS stall {os_stall:.3f} s"


@pytest.fixture(scope="module")
def quantized(tiny_f16: Path) -> Path:
    return run_job(quantize_gguf(tiny_f16, "Q8_0", threads=1)).path


@pytest.fixture
def two_levels(tiny_f16: Path, quantized: Path) -> list[Path]:
    """Both levels in this test's own library folder."""
    return [put_in_library(tiny_f16), put_in_library(quantized)]


def test_two_levels_answer_side_by_side_while_the_gui_stays_responsive(
    qtbot: QtBot, main_window: Callable[[], MainWindow], two_levels: list[Path]
) -> None:
    window = main_window()
    wait_until(qtbot, lambda: window.compare.levels.count() == 2)
    window.library.select_path(str(two_levels[0]))
    window.library.tree.selectAll()
    assert window.library.compare_button.isEnabled()
    window.library.compare_button.click()
    assert window.tabs.currentIndex() == COMPARE_TAB
    compare = window.compare
    compare.max_tokens = 24
    compare.threads = 1
    assert sorted(compare.chosen_paths()) == sorted(str(p) for p in two_levels)

    probe = StallProbe()
    compare.run_button.click()
    wait_until(qtbot, lambda: len(compare.columns) == 2)
    wait_until(qtbot, lambda: all(c.status.text() in ("done", "stopped") for c in compare.columns))
    assert_responsive(probe)
    for column in compare.columns:
        assert column.text, column.status.text()
        assert "tokens/s" in column.stats.text() and "RAM" in column.stats.text()
    assert "together" in compare.mode.text()


def test_measuring_the_ladder_fills_the_chart_and_the_library(
    qtbot: QtBot, main_window: Callable[[], MainWindow], two_levels: list[Path]
) -> None:
    window = main_window()
    ladder = window.compare.ladder
    wait_until(qtbot, lambda: ladder.model.count() == 1)
    ladder.measure_options = FAST_MEASURE
    probe = StallProbe()
    ladder.measure()
    wait_until(qtbot, lambda: ladder._measure is not None and ladder._measure.done, 120_000)
    assert_responsive(probe)
    wait_until(qtbot, lambda: any(p.same_top is not None for p in ladder.chart.points))
    q8 = next(p for p in ladder.chart.points if p.level == "Q8_0")
    assert 0.0 <= q8.same_top <= 1.0 and q8.mean_kl is not None and q8.gen_tokens_per_s
    assert next(p for p in ladder.chart.points if p.level == "F16").is_reference
    window.library.refresh()
    wait_until(qtbot, lambda: "same top" in _library_text(window))


def _library_text(window: MainWindow) -> str:
    tree = window.library.tree
    top = tree.topLevelItem(0)
    if top is None:
        return ""
    return " ".join(top.child(i).text(5) for i in range(top.childCount()))
