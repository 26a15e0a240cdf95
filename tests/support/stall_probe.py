"""Is the GUI responsive while a slow job runs? The longest gap of the event loop, measured.

How the measurement works, and what it forgives:

* A 10 ms ``QTimer`` ticks on the GUI thread; the longest gap between two ticks is the
  longest time the event loop could not run (a slot that blocked, a lock or the GIL held by a
  worker for too long, a layout that took too long).
* The window must be settled before the probe starts (:func:`settle_window`): its first frame
  painted, the start-up work done (hardware probe, library scan, fit badges). Those happen
  once per app start, not during the job the test is about, and on a 2-core machine the first
  paint alone can take over 100 ms.
  Settling also collects garbage and freezes what is left (``gc.freeze``): late in a test run
  the process holds every earlier test's objects, and a full collection over them can take
  longer than the budget, a cost the app's own fresh process does not have.
* The test machine's cores are shared, so the OS can keep any ready process off the CPU for a
  while. A separate, idle Python process runs a 10 ms sleep loop over the same period and
  reports its own longest extra delay; that delay is added to the budget. It is the only
  allowance: it forgives one scheduling delay as long as the worst one an idle process suffered
  at the same time, never a gap caused by our own code, which an idle process does not see.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.ui.main_window import MainWindow
from tests.support.ui_helpers import settle_pool, wait_until

#: The longest gap allowed beyond the OS's own delay: a tenth of a second reads as instant.
STALL_BUDGET_S = 0.1
TICK_MS = 10

#: Runs in a separate process until its stdin closes: the longest extra delay of a 10 ms
#: sleep loop, i.e. how long the OS kept a ready, idle process from running.
_OS_PROBE = """
import select, sys, time
print("ready", flush=True)
last = time.monotonic(); longest = 0.0
while not select.select([sys.stdin], [], [], 0.01)[0]:
    now = time.monotonic(); longest = max(longest, now - last - 0.01); last = now
print(longest)
"""


def settle_window(qtbot: QtBot, window: MainWindow) -> None:
    """Wait until the window's start-up work is over, then let the event loop idle a moment."""
    wait_until(qtbot, lambda: not window._first_frame.pending, 10_000)
    wait_until(qtbot, lambda: window.hardware is not None, 30_000)
    wait_until(qtbot, lambda: bool(window.library.status.text()), 30_000)
    settle_pool()  # the fit badges and anything else the scan started
    # By now the test process holds the objects of every earlier test as well: a full garbage
    # collection scanning them all can hold the GIL for a third of a second, which the app's
    # own process, started afresh, never pays. Collect once and set them aside.
    gc.collect()
    gc.freeze()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


class StallProbe:
    """Measures from construction to :meth:`stop`; see the module docstring."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.stalls: list[tuple[float, float]] = []  # (when, how long) over 50 ms, for messages
        self._os_probe = subprocess.Popen(
            [sys.executable, "-c", _OS_PROBE], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        # Both measure the same period: the GUI's gaps count only once the idle process runs
        # its loop (its own start-up takes CPU time that its loop would not see).
        assert self._os_probe.stdout is not None
        self._os_probe.stdout.readline()
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._on_tick)
        self._start = self._last = time.monotonic()
        self.timer.start()

    def _on_tick(self) -> None:
        now = time.monotonic()
        if now - self._last > 0.05:
            self.stalls.append((round(self._last - self._start, 3), round(now - self._last, 3)))
        self.longest = max(self.longest, now - self._last)
        self._last = now

    def stop(self) -> tuple[float, float]:
        """(longest GUI gap, longest OS delay of the idle process) in seconds."""
        self.timer.stop()
        out, _ = self._os_probe.communicate(b"", timeout=30)
        return self.longest, float(out)


def assert_responsive(probe: StallProbe) -> None:
    gui, os_delay = probe.stop()
    assert gui < STALL_BUDGET_S + os_delay, (
        f"the event loop stalled {gui:.3f} s (gaps over 50 ms: {probe.stalls}); "
        f"an idle process was delayed {os_delay:.3f} s at most meanwhile"
    )
