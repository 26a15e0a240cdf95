"""First run and later runs: the Get started card, downloads resumed after a restart, and the
conversion wizard fed a hub repo id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from converter.hub.fetch import COMPLETE_MARKER, hub_cache_dir
from converter.hub.recommend import Recommendation
from converter.paths import library_dir
from desktop.services.conversion_sources import LocalFolder, resolver_for
from desktop.services.download_queue import DownloadState, load_queue, queue_file
from desktop.services.hub_source import HubRepoSource
from desktop.ui.hub.download_manager import DownloadManager
from desktop.ui.main_window import CHAT_TAB, MainWindow
from tests.support.hub_server import FakeHub
from tests.support.hub_ui_helpers import (  # noqa: F401 - fixtures are found by name
    CHECKPOINT_REPO,
    GGUF_REPO,
    checkpoint_repo,
    hub_fixture,
    tiny_checkpoint_fixture,
    tiny_levels_fixture,
)
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    settle_pool,
    wait_until,
)

GIB = 1024**3


def _suggestion(filename: str, size: int, title: str) -> Recommendation:
    return Recommendation(title, GGUF_REPO, filename, "Q8_0", size, "apache-2.0", "A test model.")


def test_get_started_downloads_the_suggestion_then_offers_a_chat(
    qtbot: QtBot, hub: FakeHub, main_window: Callable[[], MainWindow], tiny_levels
) -> None:
    window = main_window()
    card = window.get_started
    wait_until(qtbot, lambda: window.hardware is not None and card.isVisible(), 30_000)
    q8 = tiny_levels["Q8_0"]
    # Two served models: the small one runs comfortably anywhere; a 1000 GiB one fits nowhere.
    card.set_models(
        (
            _suggestion("tiny-Q8_0.gguf", q8.stat().st_size, "Tiny"),
            _suggestion("tiny-F16.gguf", 1000 * GIB, "Huge"),
        )
    )
    assert [row.model.title for row in card.rows] == ["Tiny"]
    (row,) = card.rows
    assert row.button.text().startswith("Download")
    row.button.click()
    wait_until(qtbot, lambda: window.library.tree.topLevelItemCount() == 1, 30_000)
    assert (library_dir() / "tiny-Q8_0.gguf").read_bytes() == q8.read_bytes()
    wait_until(qtbot, lambda: row.button.text() == "Chat now")
    assert card.isVisible()  # the library is no longer empty, but the chat is one click away
    window.chat.load_model = lambda path: None  # the chat itself is tested elsewhere
    with qtbot.waitSignal(card.chat_requested) as chat:
        row.button.click()
    assert chat.args == [str(library_dir() / "tiny-Q8_0.gguf")]
    assert window.tabs.currentIndex() == CHAT_TAB and card.isHidden()


def test_card_is_hidden_when_the_library_has_models(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_levels
) -> None:
    library_dir().mkdir(parents=True, exist_ok=True)
    (library_dir() / "tiny-Q4_K_M.gguf").write_bytes(tiny_levels["Q4_K_M"].read_bytes())
    window = main_window()
    wait_until(qtbot, lambda: window.library.tree.topLevelItemCount() == 1)
    wait_until(qtbot, lambda: window.hardware is not None, 30_000)
    assert card_hidden(window)


def card_hidden(window: MainWindow) -> bool:
    return window.get_started.isHidden()


def test_a_download_pending_at_close_resumes_when_the_app_starts_again(
    qtbot: QtBot, hub: FakeHub, tiny_levels
) -> None:
    from converter.hub.hub_client import repo_details

    hub.chunk_delay_s = 0.02
    details = repo_details(GGUF_REPO)
    choice = next(c for c in details.gguf if c.level == "F16")
    first = DownloadManager()
    entry = first.enqueue(GGUF_REPO, choice, details.revision, library_dir())
    progress = lambda: first.last_progress(entry.key)  # noqa: E731
    wait_until(qtbot, lambda: progress() is not None and progress().done > 200_000, 20_000)
    first.shutdown()  # what closing the window does
    (saved,) = load_queue()
    assert saved.key == entry.key and saved.state is DownloadState.QUEUED
    kept = (library_dir() / f".{choice.name}.download").stat().st_size
    assert kept > 200_000 and not (library_dir() / choice.name).exists()

    hub.chunk_delay_s = 0.0
    second = DownloadManager()
    with qtbot.waitSignal(second.completed, timeout=20_000) as done:
        second.restore()
    assert done.args[1] == library_dir() / choice.name
    assert (library_dir() / choice.name).read_bytes() == tiny_levels["F16"].read_bytes()
    assert f"bytes={kept}-" in hub.ranges_for(choice.name)
    assert load_queue() == []
    settle_pool()


def test_a_damaged_queue_file_is_set_aside() -> None:
    queue_file().parent.mkdir(parents=True, exist_ok=True)
    queue_file().write_text("{not json")
    assert load_queue() == []
    assert queue_file().with_name("downloads.json.damaged").read_text() == "{not json"


def test_wizard_sources_tell_hub_names_from_folders(tmp_path: Path) -> None:
    assert isinstance(resolver_for("Qwen/Qwen2.5-0.5B-Instruct"), HubRepoSource)
    assert isinstance(resolver_for(str(tmp_path)), LocalFolder)
    assert resolver_for("not a name") is None
    assert resolver_for("a/b/c") is None


def test_wizard_converts_a_repo_from_the_hub(
    qtbot: QtBot,
    hub: FakeHub,
    main_window: Callable[[], MainWindow],
    tiny_checkpoint: Path,
) -> None:
    hub.add(checkpoint_repo(tiny_checkpoint))
    window = main_window()
    window.hub.open_repo(CHECKPOINT_REPO)
    panel = window.hub.repo
    wait_until(qtbot, lambda: panel.convert_button.isEnabled() and panel.details is not None)
    panel.convert_button.click()
    wizard = next(w for w in window.findChildren(type(window.open_wizard())) if w.isVisible())
    qtbot.addWidget(wizard)
    assert wizard.source_page.source.text() == CHECKPOINT_REPO
    assert wizard.source_page.isComplete()
    wizard.next()
    page = wizard.check_page
    wait_until(qtbot, lambda: page.inspection is not None, 60_000)
    assert page.isComplete(), [r.detail for r in page.inspection.rows]
    assert (hub_cache_dir(CHECKPOINT_REPO) / COMPLETE_MARKER).is_file()
    assert page.inspection.architecture == "llama"
    assert page.inspection.model_name == "tiny-llama"  # the repo's NAME, not its cache folder
    wizard.next()
    wait_until(qtbot, lambda: wizard.levels_page.table.rowCount() > 0, 30_000)
    wizard.levels_page.set_chosen(["Q8_0"])
    wizard.next()
    wait_until(qtbot, lambda: wizard.currentPage() is wizard.done_page, 180_000)
    names = sorted(p.name for p in library_dir().glob("*.gguf"))
    assert names == ["tiny-llama-F16.gguf", "tiny-llama-Q8_0.gguf"]  # as quantdesk convert does
    assert not [p for p in library_dir().iterdir() if p.name.startswith(".")]
    wizard.close()
