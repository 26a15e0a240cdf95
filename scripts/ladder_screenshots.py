"""Screenshots of the Compare screen's ladder chart at 1024×640 and 1920×1080, from a real ladder.

    QT_QPA_PLATFORM=offscreen python scripts/ladder_screenshots.py LADDER_FOLDER [--out DIR]

LADDER_FOLDER holds the levels of one model with their saved measurements (for example the
folder ``benchmarks/ladder_time.py`` measured); the app opens it as its library, shows that
model's ladder and saves ``ladder-light-1024x640.png`` and ``ladder-dark-1920x1080.png``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHOTS = (("light", 1024, 640), ("dark", 1920, 1080))


def spin(condition: Callable[[], bool], timeout_s: float = 120.0) -> None:
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        QApplication.processEvents()
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ladder", type=Path)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="quantdesk-ladder-shots-"))
    os.environ["QUANTDESK_HOME"] = str(home)
    os.environ["QUANTDESK_LIBRARY"] = str(args.ladder.resolve())
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from PySide6.QtWidgets import QApplication

        from desktop.services.app_settings import Settings
        from desktop.ui.main_window import COMPARE_TAB, MainWindow
        from desktop.ui.theme import apply_theme

        app = QApplication.instance() or QApplication(sys.argv)
        window = MainWindow(Settings(system_prompt=""))
        window.show()
        spin(lambda: window.hardware is not None and window.compare.ladder.model.count() > 0)
        window.tabs.setCurrentIndex(COMPARE_TAB)
        ladder = window.compare.ladder
        spin(lambda: any(p.same_top is not None for p in ladder.chart.points))
        args.out.mkdir(parents=True, exist_ok=True)
        for theme, width, height in SHOTS:
            apply_theme(app, theme)
            window.resize(width, height)
            spin(lambda: "Recommended" in ladder.status.text(), 30)
            settle_until = time.monotonic() + 1.0
            spin(lambda until=settle_until: time.monotonic() > until)
            path = args.out / f"ladder-{theme}-{width}x{height}.png"
            if not window.grab().save(str(path)):
                raise OSError(f"could not write {path}")
            print(path)
        window.close()
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
