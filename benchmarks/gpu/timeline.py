"""Timestamped log lines and the time budget a GPU run has to fit in."""

from __future__ import annotations

import datetime
import time


class Timeline:
    """Wall clock since the start, and the seconds left of the budget."""

    def __init__(self, budget_seconds: float) -> None:
        self.started = time.monotonic()
        self.budget_seconds = budget_seconds
        self.deadline = self.started + budget_seconds

    def restart_budget(self) -> None:
        """Start the budget now (the build before it has its own, fixed cost)."""
        self.deadline = time.monotonic() + self.budget_seconds

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, message: str) -> None:
        now = datetime.datetime.now().strftime("%H:%M:%S")
        elapsed = time.monotonic() - self.started
        print(f"[{now} +{elapsed:6.0f}s] {message}", flush=True)
