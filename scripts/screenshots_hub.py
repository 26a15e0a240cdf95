"""Screenshots of the Hub tab and the Get started card, for ``scripts/screenshots.py``.

The hub is the tests' local stand-in (``tests.support.hub_server``), serving the library's own tiny
levels under made-up repo names, so the pictures show real search results, remote fit badges
and a paused download without any network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from screenshots import Camera, settle, spin


def shoot_hub(camera: Camera) -> None:
    from converter.hub.repo_kind import GgufChoice
    from desktop.services.download_queue import DownloadState
    from desktop.ui.main_window import HUB_TAB, LIBRARY_TAB, MainWindow
    from tests.support.hub_server import FakeHub, FakeRepo

    library = Path(os.environ["QUANTDESK_LIBRARY"])
    levels = {p.name: p.read_bytes() for p in sorted(library.glob("tiny-demo-*.gguf"))[:2]}
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
    window = MainWindow()
    window.show()
    spin(lambda: window.hardware is not None and bool(window.library.status.text()))
    view = window.hub
    downloads = library.parent / "hub-downloads"
    view.repo.dest_dir = downloads
    view.query.setText("demo")
    view.search()
    spin(lambda: view.table.rowCount() == 4)
    view.table.selectRow(0)
    spin(lambda: len(view.repo.fits) == len(levels))
    hub.chunk_delay_s = 0.003  # 16 KiB chunks: a few MB/s, slow enough to pause
    name, data = next(iter(levels.items()))
    choice = GgufChoice(name.rsplit("-", 1)[-1].removesuffix(".gguf"), (name,), len(data))
    entry = view.manager.enqueue("demo/Tiny-Demo-GGUF", choice, "main", downloads)
    progress = view.manager.last_progress
    spin(lambda: progress(entry.key) is not None and progress(entry.key).done > len(data) // 3)
    view.manager.pause(entry.key)
    spin(lambda: view.manager.entry(entry.key).state is DownloadState.PAUSED)
    settle()
    camera.window("hub", window, HUB_TAB)
    view.manager.cancel(entry.key)
    window.close()
    _shoot_get_started(camera, library, LIBRARY_TAB)
    hub.stop()


def _shoot_get_started(camera: Camera, library: Path, tab: int) -> Any:
    from desktop.ui.main_window import MainWindow

    os.environ["QUANTDESK_LIBRARY"] = str(library.parent / "empty-library")
    try:
        first_run = MainWindow()
        first_run.show()
        spin(lambda: first_run.get_started.isVisible() and bool(first_run.get_started.rows))
        camera.window("start", first_run, tab)
        first_run.close()
    finally:
        os.environ["QUANTDESK_LIBRARY"] = str(library)
