"""Take screenshots of each screen of the running app into docs/screenshots/.

Runs offscreen against a throw-away library holding a tiny random model (F16 and Q8_0), so
the pictures show real app states: a loaded model, a streamed reply, a comparison and its
measured ladder. Light and dark palettes, at 1280×800 and 900×600::

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out docs/screenshots]
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
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZES = {"large": (1280, 800), "small": (900, 600)}


def _spin(condition: Callable[[], bool], timeout_s: float = 120.0) -> None:
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        QApplication.processEvents()
        time.sleep(0.02)


def _settle(seconds: float = 0.4) -> None:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def _prepare_library(home: Path) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    from converter.progress import run_job
    from converter.quantize import quantize_gguf
    from tests.gguf_factory import TinyModelShape, write_tiny_gguf

    library = home / "library"
    library.mkdir(parents=True)
    f16 = write_tiny_gguf(library / "tiny-demo-F16.gguf", TinyModelShape(n_layer=2))
    run_job(quantize_gguf(f16, "Q8_0", threads=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="quantdesk-shots-"))
    os.environ["QUANTDESK_HOME"] = str(home)
    os.environ["QUANTDESK_LIBRARY"] = str(home / "library")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        _prepare_library(home)
        return _shoot(args.out)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _shoot(out: Path) -> int:
    from PySide6.QtWidgets import QApplication

    from desktop.settings import Settings
    from desktop.ui.chat.session import SessionState
    from desktop.ui.main_window import CHAT_TAB, COMPARE_TAB, LIBRARY_TAB, MainWindow
    from desktop.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv)
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow(Settings(system_prompt=""))
    window.show()
    _spin(lambda: window.hardware is not None and window.chat.model_bar.combo.count() == 2)
    chat = window.chat
    chat.load_model(chat.model_bar.combo.itemData(1), insist=True)
    _spin(lambda: chat.session.state is SessionState.READY)
    chat.send("Write a haiku about quantization.")
    _spin(lambda: chat.session.state is SessionState.READY)
    compare = window.compare
    compare.choose([compare.levels.item(i).data(256) for i in range(2)])
    compare.max_tokens = 48
    compare.run()
    _spin(lambda: len(compare.columns) == 2 and not compare.running)
    compare.ladder.measure_options = {"ctx_tokens": 64, "max_chunks": 2, "speed_repeats": 1,
                                      "prompt_tokens": 16, "gen_tokens": 8}  # fmt: skip
    measuring = compare.ladder.measure()
    _spin(lambda: measuring is not None and measuring.done)
    window.library.refresh()
    _settle(1.5)

    screens = {"library": LIBRARY_TAB, "chat": CHAT_TAB, "compare": COMPARE_TAB}
    for theme in ("light", "dark"):
        apply_theme(app, theme)
        for size_name, (width, height) in SIZES.items():
            window.resize(width, height)
            for name, tab in screens.items():
                window.tabs.setCurrentIndex(tab)
                _settle()
                window.grab().save(str(out / f"{name}-{theme}-{size_name}.png"))
        wizard = window.open_wizard()
        wizard.resize(820, 580)
        _settle()
        wizard.grab().save(str(out / f"wizard-{theme}.png"))
        wizard.close()
    _shoot_hub(app, window, out)
    window.close()
    print(f"Screenshots written to {out}")
    return 0


def _shoot_hub(app: Any, window: Any, out: Path) -> None:
    """The Hub tab (served by the tests' local stand-in hub) and the Get started card."""
    from converter.hub.repo_kind import GgufChoice
    from desktop.ui.hub.download_queue import DownloadState
    from desktop.ui.main_window import HUB_TAB, LIBRARY_TAB, MainWindow
    from desktop.ui.theme import apply_theme
    from tests.hub_server import FakeHub, FakeRepo

    library = Path(os.environ["QUANTDESK_LIBRARY"])
    levels = {f"tiny-demo-{lv}.gguf": (library / f"tiny-demo-{lv}.gguf").read_bytes()
              for lv in ("F16", "Q8_0")}  # fmt: skip
    weights = {"config.json": b"{}", "model.safetensors": b"0" * 4096}
    hub = FakeHub(
        FakeRepo("demo/Tiny-Demo-GGUF", levels, tags=("gguf", "llama"), downloads=48_210,
                 likes=311),
        FakeRepo("demo/Tiny-Demo", weights, config={"model_type": "llama"}, downloads=9_876,
                 likes=54, safetensors_params={"BF16": 494_000_000}),
        FakeRepo("demo/Tiny-Demo-Gated-GGUF", levels, tags=("gguf",), gated=True,
                 license="llama3.2", downloads=1_204),
        FakeRepo("demo/Tiny-Demo-Mamba", weights, config={"model_type": "mamba"}, downloads=310),
    ).start()  # fmt: skip
    os.environ["HF_ENDPOINT"] = hub.endpoint
    downloads = library.parent / "hub-downloads"
    view = window.hub
    view.repo.dest_dir = downloads
    view.query.setText("demo")
    view.search()
    _spin(lambda: view.table.rowCount() == 4)
    view.table.selectRow(0)
    _spin(lambda: len(view.repo.fits) == 2)
    hub.chunk_delay_s = 0.05
    size = len(levels["tiny-demo-F16.gguf"])
    choice = GgufChoice("F16", ("tiny-demo-F16.gguf",), size)
    entry = view.manager.enqueue("demo/Tiny-Demo-GGUF", choice, "main", downloads)
    progress = view.manager.last_progress
    _spin(lambda: progress(entry.key) is not None and progress(entry.key).done > size // 3)
    view.manager.pause(entry.key)
    _spin(lambda: view.manager.entry(entry.key).state is DownloadState.PAUSED)
    os.environ["QUANTDESK_LIBRARY"] = str(library.parent / "empty-library")
    first_run = MainWindow()
    first_run.show()
    _spin(lambda: first_run.get_started.isVisible() and bool(first_run.get_started.rows))
    for theme in ("light", "dark"):
        apply_theme(app, theme)
        for size_name, (width, height) in SIZES.items():
            for shown, tab, name in ((window, HUB_TAB, "hub"), (first_run, LIBRARY_TAB, "start")):
                shown.resize(width, height)
                shown.tabs.setCurrentIndex(tab)
                _settle()
                shown.grab().save(str(out / f"{name}-{theme}-{size_name}.png"))
    view.manager.cancel(entry.key)
    first_run.close()
    hub.stop()


if __name__ == "__main__":
    sys.exit(main())
