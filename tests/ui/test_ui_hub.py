"""The Hub tab against the fake hub: search, repo page and fit, downloads, gated, offline."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from converter.paths import library_dir
from converter.storage import format_bytes
from desktop.engine.fit_planner import plan_fit
from desktop.engine.hardware import probe_hardware
from desktop.services.download_queue import DownloadState, load_queue, queue_file
from desktop.services.fit_text import describe_plan
from desktop.ui.hub.download_manager import DownloadManager
from desktop.ui.hub.hub_view import HubView
from desktop.ui.hub.repo_panel import NARROW_FILES_PX
from desktop.ui.main_window import HUB_TAB, MainWindow
from tests.support.hub_server import FakeHub
from tests.support.hub_ui_helpers import (  # noqa: F401 - fixtures are found by name
    GATED_REPO,
    GGUF_REPO,
    SPLIT_REPO,
    hub_fixture,
    tiny_levels_fixture,
)
from tests.support.stall_probe import StallProbe, assert_responsive, settle_window
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    settle_pool,
    wait_until,
)


@pytest.fixture(name="hub_view")
def hub_view_fixture(qtbot: QtBot) -> Callable[[], HubView]:
    def make() -> HubView:
        view = HubView(library_dir())
        qtbot.addWidget(view)
        view.show()
        return view

    yield make
    settle_pool()


def _table(view: HubView) -> list[list[str]]:
    table = view.table
    return [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


def _state(manager: DownloadManager, key: str) -> DownloadState | None:
    found = [e for e in manager.entries() if e.key == key]
    return found[0].state if found else None


def test_search_shows_the_hubs_answers(qtbot: QtBot, hub: FakeHub, hub_view) -> None:
    view = hub_view()
    view.query.setText("tiny")
    view.search()
    wait_until(qtbot, lambda: view.table.rowCount() > 0, 10_000)
    rows = {row[0]: row for row in _table(view)}
    assert set(rows) == {GGUF_REPO, "org/tiny-llama"}  # what the server matches for "tiny"
    assert rows[GGUF_REPO][1:3] == ["1.5k", "12"]
    assert rows["org/tiny-llama"][3] == format_bytes(4000)  # 1000 F32 parameters
    assert rows[GGUF_REPO][3] == "GGUF"  # the hub gives no parameter count for GGUF repos
    assert rows["org/tiny-llama"][4] == "llama ✔"
    assert rows["org/tiny-llama"][5] == "apache-2.0"
    assert "2 model(s)" in view.status.text() and view.banner.isHidden()

    view.query.setText("gated")
    view.search()
    wait_until(qtbot, lambda: view.table.rowCount() == 1 and "gated" in _table(view)[0][0])
    assert _table(view)[0][6] == "gated"


def test_gguf_repo_lists_levels_with_sizes_and_fit_badges(
    qtbot: QtBot, hub: FakeHub, hub_view, tiny_levels: dict[str, Path]
) -> None:
    hardware = probe_hardware()
    view = hub_view()
    view.set_fit_inputs(hardware, 2048, "f16")
    view.open_repo(GGUF_REPO)
    panel = view.repo
    wait_until(qtbot, lambda: len(panel.fits) == 3, 20_000)
    table = panel.table
    shown = {
        table.item(r, 0).text(): (table.item(r, 2).text(), table.item(r, 3).text())
        for r in range(table.rowCount())
    }
    assert set(shown) == {"F16", "Q4_K_M", "Q8_0"}
    for level, path in tiny_levels.items():
        size, fit = shown[level]
        assert size == format_bytes(path.stat().st_size)
        # The badge from the remote header is the plan for the same file on disk.
        local = plan_fit(path, hardware, ctx_tokens=2048, kv_type="f16")
        assert fit == describe_plan(local)
    sizes = [tiny_levels[table.item(r, 0).text()].stat().st_size for r in range(3)]
    assert sizes == sorted(sizes)  # smallest level first
    # Only headers travelled: no request asked for a file from its first byte to its end.
    assert all(r.range for r in hub.requests if r.path.endswith(".gguf") and r.method == "GET")
    # In a narrow panel the file names (a sliver of them) give way; the level names its file.
    view.resize(1024, 640)
    wait_until(qtbot, lambda: table.width() < NARROW_FILES_PX and table.isColumnHidden(1))
    assert table.item(0, 0).toolTip().endswith(".gguf")
    view.resize(1600, 900)
    wait_until(qtbot, lambda: not table.isColumnHidden(1))


def test_download_lands_in_the_library_without_blocking_the_window(
    qtbot: QtBot, hub: FakeHub, main_window: Callable[[], MainWindow], tiny_levels
) -> None:
    hub.chunk_delay_s = 0.01  # about a second for the file
    window = main_window()
    window.tabs.setCurrentIndex(HUB_TAB)
    settle_window(qtbot, window)
    window.hub.open_repo(GGUF_REPO)
    panel = window.hub.repo
    wait_until(qtbot, lambda: panel.table.isVisible() and panel.table.rowCount() == 3, 10_000)
    row = next(r for r in range(3) if panel.table.item(r, 0).text() == "Q8_0")
    events = []
    window.hub.manager.progressed.connect(lambda _key, event: events.append(event))
    probe = StallProbe()
    panel.table.cellWidget(row, 4).click()
    assert panel.table.cellWidget(row, 4).text() == "Queued"
    wait_until(qtbot, lambda: (library_dir() / "tiny-Q8_0.gguf").is_file(), 30_000)
    wait_until(qtbot, lambda: window.library.tree.topLevelItemCount() == 1, 10_000)
    assert_responsive(probe)
    expected = tiny_levels["Q8_0"].read_bytes()
    assert (library_dir() / "tiny-Q8_0.gguf").read_bytes() == expected
    assert len(events) >= 3 and events[-1].done == events[-1].total == len(expected)
    assert [e.done for e in events] == sorted(e.done for e in events)
    item = window.library.tree.topLevelItem(0).child(0)
    assert "tiny-Q8_0.gguf" in item.text(0)
    wait_until(qtbot, lambda: not window.hub.downloads.rows)
    assert panel.table.cellWidget(row, 4).text() == "In library"
    assert load_queue() == []
    assert sorted(p.name for p in library_dir().iterdir()) == [
        ".tiny-Q8_0.gguf.verified.json",  # the checksum it was verified against
        "tiny-Q8_0.gguf",
    ]


def test_pause_then_resume_continues_from_the_kept_bytes(
    qtbot: QtBot, hub: FakeHub, hub_view, tiny_levels
) -> None:
    hub.chunk_delay_s = 0.02
    view = hub_view()
    view.open_repo(GGUF_REPO)
    wait_until(qtbot, lambda: view.repo.details is not None)
    choice = next(c for c in view.repo.details.gguf if c.level == "Q8_0")
    manager = view.manager
    entry = manager.enqueue(GGUF_REPO, choice, view.repo.details.revision, library_dir())
    last = lambda: manager.last_progress(entry.key)  # noqa: E731
    wait_until(qtbot, lambda: last() is not None and last().done > 100_000, 20_000)
    row = view.downloads.rows[entry.key]
    assert row.pause_button.text() == "Pause" and "left" in row.detail.text()
    row.pause_button.click()
    wait_until(qtbot, lambda: _state(manager, entry.key) is DownloadState.PAUSED)
    assert row.pause_button.text() == "Resume" and "paused" in row.detail.text()
    assert not (library_dir() / choice.name).exists()
    kept = (library_dir() / f".{choice.name}.download").stat().st_size
    assert 100_000 < kept < choice.size_bytes
    assert json.loads(queue_file().read_text())["downloads"][0]["state"] == "paused"

    hub.chunk_delay_s = 0.0
    row.pause_button.click()
    wait_until(qtbot, lambda: (library_dir() / choice.name).is_file(), 20_000)
    assert (library_dir() / choice.name).read_bytes() == tiny_levels["Q8_0"].read_bytes()
    # Transfers (header reads for the fit badge ask for closed ranges): whole, then the rest.
    transfers = [r for r in hub.ranges_for(choice.name) if r is None or r.endswith("-")]
    assert transfers == [None, f"bytes={kept}-"]
    wait_until(qtbot, lambda: not manager.entries())
    assert not view.downloads.rows and load_queue() == []


def test_cancel_leaves_nothing_behind(qtbot: QtBot, hub: FakeHub, hub_view) -> None:
    hub.chunk_delay_s = 0.01
    view = hub_view()
    view.open_repo(SPLIT_REPO)
    wait_until(qtbot, lambda: view.repo.details is not None)
    (choice,) = view.repo.details.gguf
    manager = view.manager
    entry = manager.enqueue(SPLIT_REPO, choice, view.repo.details.revision, library_dir())
    second = choice.files[1]
    # Cancel while the second shard is arriving: the finished first shard must go too.
    wait_until(qtbot, lambda: bool(hub.ranges_for(second)), 20_000)
    view.downloads.rows[entry.key].cancel_button.click()
    wait_until(qtbot, lambda: not manager.entries(), 10_000)
    assert list(library_dir().iterdir()) == []
    assert load_queue() == []

    # A paused download cancelled later loses its partial file as well.
    entry = manager.enqueue(SPLIT_REPO, choice, view.repo.details.revision, library_dir())
    wait_until(qtbot, lambda: (library_dir() / f".{choice.files[0]}.download").exists(), 10_000)
    manager.pause(entry.key)
    wait_until(qtbot, lambda: _state(manager, entry.key) is DownloadState.PAUSED)
    with pytest.raises(RuntimeError, match="only a download can pause"):
        manager.pause(entry.key)
    manager.cancel(entry.key)
    assert list(library_dir().iterdir()) == [] and not manager.entries()


def test_gated_repo_explains_and_offers_the_token(
    qtbot: QtBot, hub: FakeHub, hub_view, monkeypatch: pytest.MonkeyPatch, tiny_levels
) -> None:
    from converter.hub import token as token_store
    from desktop.ui.hub.token_dialog import TokenDialog

    monkeypatch.setattr(token_store, "_working_keyring", lambda: None)  # the private file
    view = hub_view()
    view.open_repo(GATED_REPO)
    panel = view.repo
    wait_until(qtbot, lambda: panel.details is not None)
    assert "gated" in panel.message.text() and "token" in panel.message.text()
    assert panel.token_button.isVisible()
    with qtbot.waitSignal(view.token_requested) as asked:
        panel.token_button.click()
    assert GATED_REPO in asked.args[0]
    wait_until(qtbot, lambda: len(panel.fits) == 1)
    assert panel.fits["gated-Q8_0.gguf"].plan is None  # the header needs access too

    (choice,) = panel.details.gguf
    manager = view.manager
    entry = manager.enqueue(GATED_REPO, choice, panel.details.revision, library_dir())
    wait_until(qtbot, lambda: _state(manager, entry.key) is DownloadState.FAILED)
    row = view.downloads.rows[entry.key]
    assert "accept its licence" in row.detail.text() and row.pause_button.text() == "Retry"

    secret = "hf_AcceptedGatedTokenForTheUiTest42"
    hub.accepted_tokens.add(secret)
    dialog = TokenDialog("needs a token")
    qtbot.addWidget(dialog)
    dialog.entry.setText(secret)
    dialog.save_button.click()
    assert secret not in dialog.current.text() and dialog.current.text().endswith("…st42).")
    assert "Saved" in dialog.status.text()
    row.pause_button.click()  # Retry
    wait_until(qtbot, lambda: (library_dir() / choice.name).is_file(), 20_000)
    assert any(r.authorization == f"Bearer {secret}" for r in hub.requests)
    dialog.forget_button.click()
    assert dialog.current.text() == "No token is stored."


def test_offline_hub_shows_a_banner_and_the_window_keeps_answering(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, main_window: Callable[[], MainWindow]
) -> None:
    with socket.socket() as sock:  # a port nothing listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    window = main_window()
    window.tabs.setCurrentIndex(HUB_TAB)
    settle_window(qtbot, window)
    view = window.hub
    view.query.setText("qwen")
    started = time.monotonic()
    probe = StallProbe()
    view.search()
    wait_until(qtbot, view.banner.isVisible, 15_000)
    assert_responsive(probe)
    assert time.monotonic() - started < 10
    assert "offline" in view.banner_text.text()
    assert "library and chats work offline" in view.status.text()

    view.open_repo(GGUF_REPO)
    wait_until(qtbot, lambda: "offline" in view.repo.message.text())
    window.tabs.setCurrentIndex(0)  # the rest of the app still works
    wait_until(qtbot, lambda: "No GGUF files yet" in window.library.status.text())

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline mode: refused at once, no connection
    window.tabs.setCurrentIndex(HUB_TAB)
    view.banner.hide()
    view.search()
    wait_until(qtbot, view.banner.isVisible, 5_000)
