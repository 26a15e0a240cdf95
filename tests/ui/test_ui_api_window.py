"""The Local API page (a tab of the main window): real ModelServer on 127.0.0.1 with the
tiny model, real HTTP."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.engine.server.model_server import DEFAULT_PORT
from desktop.engine.worker import LoadSettings
from desktop.ui.api_window import ApiWindow
from desktop.ui.main_window import API_TAB, MainWindow
from tests.support.stall_probe import StallProbe, assert_responsive, settle_window
from tests.support.ui_helpers import main_window_fixture, settle_pool, tiny_f16_fixture, wait_until

__all__ = ["main_window_fixture", "tiny_f16_fixture"]

LOAD = LoadSettings(ctx_tokens=512, threads=1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(name="window")
def window_fixture(qtbot: QtBot, tiny_f16: Path) -> Iterator[ApiWindow]:
    window = ApiWindow(lambda: [str(tiny_f16)], LOAD)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()
    settle_pool()


def serve(qtbot: QtBot, window: ApiWindow, port: int) -> str:
    window.port.setValue(port)
    window.start_button.click()
    # Loading, or first working out how many replies fit ("Auto" is planned after choosing)
    assert window.status.text().startswith(("Loading", "Working out"))
    assert not window.model.isEnabled() and not window.port.isEnabled()
    wait_until(qtbot, lambda: window.status.text().startswith("Serving"), 30_000)
    return window.url.text()


def test_defaults_are_local_and_the_warning_follows_the_checkbox(window: ApiWindow) -> None:
    assert window.port.value() == DEFAULT_PORT
    assert not window.expose.isChecked() and window.expose_warning.isHidden()
    assert window.url.text() == f"http://127.0.0.1:{DEFAULT_PORT}/v1"
    window.expose.setChecked(True)
    assert not window.expose_warning.isHidden()
    assert window.url.text() == f"http://0.0.0.0:{DEFAULT_PORT}/v1"
    window.expose.setChecked(False)
    assert window.expose_warning.isHidden()


def test_serves_logs_requests_and_stops(
    qtbot: QtBot, window: ApiWindow, tiny_f16: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = serve(qtbot, window, port)
    assert url == f"http://127.0.0.1:{port}/v1"
    assert url in window.status.text() and url in window.example.toPlainText()

    models = call(f"{url}/models")
    assert [m["id"] for m in models["data"]] == [tiny_f16.stem]
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    reply = call(f"{url}/chat/completions", chat)
    assert reply["model"] == tiny_f16.stem
    wait_until(qtbot, lambda: "/v1/chat/completions" in window.log.toPlainText(), 10_000)

    # What a person sees while serving (docs/screenshots/local-api.png was taken this way).
    assert window.grab().save(str(tmp_path / "local-api.png"))

    window.start_button.click()  # Stop
    assert window.status.text() == "Stopped" and window.port.isEnabled()
    with pytest.raises(urllib.error.URLError):
        call(f"{url}/models")


def test_a_busy_port_shows_the_error_and_the_window_stays_usable(
    qtbot: QtBot, window: ApiWindow
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        window.port.setValue(busy)
        window.start_button.click()
        wait_until(qtbot, lambda: window.start_button.text() == "Start", 30_000)
    assert str(busy) in window.status.text() and "port" in window.status.text()
    assert "color" in window.status.styleSheet()
    assert window.port.isEnabled() and window.model.isEnabled()

    url = serve(qtbot, window, free_port())  # another port works
    assert call(f"{url}/models")["data"]
    assert window.status.styleSheet() == ""


def test_closing_the_window_stops_the_server(qtbot: QtBot, window: ApiWindow) -> None:
    url = serve(qtbot, window, free_port())
    window.close()
    assert window.server is None
    with pytest.raises(urllib.error.URLError):
        call(f"{url}/models")


def test_the_file_menu_opens_it_and_quitting_the_app_stops_the_server(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    app_window = main_window()
    menu_texts = [a.text() for a in app_window.menuBar().actions()[0].menu().actions()]
    assert "Local &API server…" in menu_texts
    window = app_window.open_api_window()
    assert window.isVisible() and app_window.open_api_window() is window
    window.choose_model(str(tiny_f16))
    window._load_settings = LOAD
    url = serve(qtbot, window, free_port())
    app_window.close()
    with pytest.raises(urllib.error.URLError):
        call(f"{url}/models")


def test_several_replies_at_once_and_an_api_key(qtbot: QtBot, window: ApiWindow) -> None:
    """Auto finds how many replies fit (off the GUI thread); a key locks the API."""
    wait_until(qtbot, lambda: window.replies.specialValueText().startswith("Auto ("), 30_000)
    assert window.replies.value() == 0  # Auto is the default
    window.replies.setValue(2)
    window.api_key.setText("s3cret")
    url = serve(qtbot, window, free_port())
    assert "2 replies at once" in window.status.text()
    assert not window.replies.isEnabled() and not window.api_key.isEnabled()

    with pytest.raises(urllib.error.HTTPError) as refused:
        call(f"{url}/models")
    assert refused.value.code == 401
    refused.value.close()
    request = urllib.request.Request(f"{url}/models", headers={"Authorization": "Bearer s3cret"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["data"]


def test_the_local_api_is_a_tab_with_a_switch_and_a_live_log(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    """As LM Studio's Developer tab: the toolbar and the View menu open the tab, the switch
    starts and stops the server without holding up the window, requests show in the log."""
    app_window = main_window()
    settle_window(qtbot, app_window)
    app_window.toolbar_actions["api"].trigger()
    assert app_window.tabs.currentIndex() == API_TAB
    page = app_window.api_window
    assert page is not None and page.isVisible() and page.isWindow() is False
    page.choose_model(str(tiny_f16))
    page._load_settings = LOAD
    page.port.setValue(free_port())
    probe = StallProbe()
    page.start_button.click()
    assert page.start_button.isChecked() and page.start_button.text() == "Stop"
    wait_until(qtbot, lambda: page.status.text().startswith("Serving"), 30_000)
    # Started at once after choosing the model, it still serves as many replies as "Auto" says.
    auto = page._auto_replies[str(tiny_f16)]
    assert page.status.text().endswith(
        "1 reply at a time" if auto == 1 else f"{auto} replies at once"
    )
    url = page.url.text()
    assert call(f"{url}/models")["data"]
    wait_until(qtbot, lambda: "/v1/models" in page.log.toPlainText())
    page.start_button.click()  # the switch off: the port is free again
    assert not page.start_button.isChecked() and page.status.text() == "Stopped"
    assert_responsive(probe)
    with pytest.raises(urllib.error.URLError):
        call(f"{url}/models")
    app_window.tabs.setCurrentIndex(0)  # the View menu's items reach every tab
    view_menu = app_window.menuBar().actions()[2].menu()
    for index, action in reversed(list(enumerate(view_menu.actions()))):
        action.trigger()
        assert app_window.tabs.currentIndex() == index
    assert view_menu.actions()[API_TAB].text() == "Local &API" and app_window.api_window is page


def test_start_before_auto_is_known_waits_for_it_and_stop_cancels(
    qtbot: QtBot, window: ApiWindow, tiny_f16: Path
) -> None:
    """Start pressed while "Auto" is still being planned serves as many replies as it finds;
    Stop in that moment starts nothing."""
    path = str(tiny_f16)
    wait_until(qtbot, lambda: path in window._auto_replies, 30_000)
    window._auto_replies.clear()
    window._finding_replies.add(path)  # as if its planning were still running
    window.port.setValue(free_port())
    window.start_button.click()
    assert window.status.text().startswith("Working out") and window.start_button.text() == "Stop"
    window.start_button.click()
    assert window.status.text() == "Stopped" and window.start_button.text() == "Start"
    window._remember_auto_replies(path, 2)  # the plan arrives after Stop: nothing starts
    assert window.server is None and window.model.isEnabled()
    window._auto_replies.clear()
    window._finding_replies.add(path)
    window.start_button.click()
    window._remember_auto_replies(path, 2)
    wait_until(qtbot, lambda: window.status.text().startswith("Serving"), 30_000)
    assert window.status.text().endswith("2 replies at once")


def test_a_request_can_name_another_model_of_the_library(
    qtbot: QtBot, tiny_f16: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.gguf"
    shutil.copyfile(tiny_f16, other)
    window = ApiWindow(lambda: [str(tiny_f16), str(other)], LOAD)
    qtbot.addWidget(window)
    window.show()
    try:
        window.jit.setChecked(True)
        url = serve(qtbot, window, free_port())
        assert not window.jit.isEnabled()
        models = call(f"{url}/models")
        assert [m["id"] for m in models["data"]] == [tiny_f16.stem, "other"]
        chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        reply = call(f"{url}/chat/completions", {**chat, "model": "other"})
        assert reply["model"] == "other"
        wait_until(qtbot, lambda: "loading other.gguf" in window.log.toPlainText(), 10_000)
        # The tab says which model answers now.
        wait_until(qtbot, lambda: window.status.text().startswith("Serving other at "), 10_000)
        assert window.model_path() == str(other)
        assert '"model": "other"' in window.example.toPlainText()
        # Without the switch, a name means the model loaded.
        window.start_button.click()
        window.choose_model(str(tiny_f16))
        window.jit.setChecked(False)
        url = serve(qtbot, window, free_port())
        assert [m["id"] for m in call(f"{url}/models")["data"]] == [tiny_f16.stem]
        assert call(f"{url}/chat/completions", {**chat, "model": "other"})["model"] == (
            tiny_f16.stem
        )
    finally:
        window.close()
        settle_pool()
