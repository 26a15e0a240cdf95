"""The designed look: tokens, icons, readable bubbles, visible check boxes, explained settings."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QPlainTextEdit,
)
from pytestqt.qtbot import QtBot

from converter.paths import library_dir
from converter.resources import resource_path
from desktop.services.app_settings import Sampling, Settings
from desktop.services.model_load_defaults import ModelLoadDefaults
from desktop.ui.chat.conversation_settings import ConversationSettingsForm
from desktop.ui.chat.load_settings_dialog import LoadSettingsDialog
from desktop.ui.chat.transcript import BUBBLE_MAX_WIDTH
from desktop.ui.compare.ladder_chart import EMPTY_TITLE as EMPTY_CHART_TITLE
from desktop.ui.hub.repo_panel import EMPTY_TITLE as EMPTY_HUB_TITLE
from desktop.ui.icons import ICON_NAME, icon
from desktop.ui.main_window import TAB_ICONS, MainWindow
from desktop.ui.settings_dialog import SettingsDialog
from desktop.ui.theme import apply_theme, style_sheet, tokens
from tests.conftest import REPO_ROOT
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    put_in_library,
    tiny_f16_fixture,
    wait_until,
)


def test_both_themes_define_every_token_the_style_sheet_uses() -> None:
    data = json.loads(resource_path("styles", "tokens.json").read_text(encoding="utf-8"))
    assert data["light"].keys() == data["dark"].keys()
    for theme in ("light", "dark"):
        sheet = style_sheet(theme)
        assert "{{" not in sheet and tokens(theme)["accent"] in sheet


def test_every_icon_the_window_shows_is_bundled_and_draws(
    main_window: Callable[[], MainWindow],
) -> None:
    window = main_window()
    window.chat.transcript.add("user", "Hello", 0)  # its Copy and Edit buttons
    shown = [*window.findChildren(QAbstractButton), *window.toolbar_actions.values()]
    names = {str(w.property(ICON_NAME)) for w in shown if w.property(ICON_NAME)}
    names |= set(TAB_ICONS)
    for source in (REPO_ROOT / "desktop" / "ui").rglob("*.py"):  # windows not open here
        names |= set(re.findall(r'set_icon\([^,]+,\s*"([\w-]+)"\)', source.read_text("utf-8")))
    assert {"send", "player-stop", "transform", "api", "books", "pencil"} <= names
    for name in names:
        assert resource_path("icons", "ui", f"{name}.svg").is_file(), name
        assert not icon(name).pixmap(20, 20).toImage().isNull()
    assert (resource_path("icons", "ui") / "LICENSE-tabler-icons.txt").is_file()


def test_unticked_check_boxes_are_visible_in_the_dark_theme(qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    apply_theme(app, "dark")
    try:
        box = QCheckBox("Text completion")
        qtbot.addWidget(box)
        box.show()
        image = box.grab().toImage()
        border = QColor(tokens("dark")["border_strong"])
        background = QColor(tokens("dark")["window"])

        def distance(a: QColor, b: QColor) -> int:
            return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())

        pixels = [image.pixelColor(x, y) for x in range(20) for y in range(image.height())]
        assert any(distance(p, border) < 40 for p in pixels)  # the indicator's frame is drawn
        assert distance(border, background) > 150  # and stands out from the window
    finally:
        apply_theme(app, "light")


def test_chat_column_is_readable_on_a_wide_window(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    window.resize(1920, 1080)
    window.tabs.setCurrentWidget(window.chat)
    reply = window.chat.transcript.add("assistant", "word " * 400, 1)
    qtbot.waitUntil(lambda: reply.width() > 0)
    assert reply.width() <= BUBBLE_MAX_WIDTH
    assert window.chat.transcript.width() > BUBBLE_MAX_WIDTH + 200
    short = window.chat.transcript.add("user", "Hi", 2)
    qtbot.waitUntil(lambda: short.height() > 0)
    area = window.chat.transcript.widget()
    assert reply.mapTo(area, reply.rect().topLeft()).y() < 40  # messages start at the top
    qtbot.waitUntil(lambda: short.mapTo(area, short.rect().topLeft()).y() > reply.height())


def test_long_titles_get_no_sideways_scrollbar_and_export_confirms(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    window = main_window()
    window.tabs.setCurrentWidget(window.chat)
    chat = window.chat
    cid = chat.new_conversation()
    window.store.rename(cid, "A very long conversation title " * 6)
    chat.conversations.refresh()
    qtbot.wait(50)
    assert not chat.conversations.list.horizontalScrollBar().isVisible()
    chat.conversations.export_to(cid, tmp_path / "chat.md")
    assert chat.conversations.notice.isVisible()
    assert str(tmp_path / "chat.md") in chat.conversations.notice.text()


def test_send_stop_column_keeps_its_width(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    window.tabs.setCurrentWidget(window.chat)
    composer = window.chat.composer
    qtbot.waitUntil(lambda: composer.send_button.width() > 0)
    before = composer.send_button.width(), composer.edit.width()
    composer.speed_label.setText("waiting for the first token… 1234.5 tokens/s")
    composer.set_generating(True, can_send=True)
    qtbot.wait(50)
    assert (composer.send_button.width(), composer.edit.width()) == before


def test_messages_are_edited_in_place(qtbot: QtBot, main_window: Callable[[], MainWindow]) -> None:
    window = main_window()
    window.tabs.setCurrentWidget(window.chat)
    message = window.chat.edits.add("user", "Hello there", 0)
    message.edit_button.setEnabled(True)
    message.edit_button.click()
    assert message.editing and message.editor.toPlainText() == "Hello there"
    assert message.editor.isVisibleTo(message) and not message.body.isVisibleTo(message)
    message.editor.setPlainText("Hello again")
    with qtbot.waitSignal(message.edit_submitted) as submitted:
        message.save_button.click()
    assert submitted.args == [0, "Hello again"] and not message.editing


@pytest.mark.parametrize("which", ["app", "conversation", "load"])
def test_every_setting_explains_itself(qtbot: QtBot, which: str) -> None:
    if which == "app":
        dialog = SettingsDialog(Settings())
    elif which == "conversation":
        dialog = ConversationSettingsForm("Be brief.", Sampling())
    else:
        dialog = LoadSettingsDialog("gemma.gguf", ModelLoadDefaults(), remembered=False)
    qtbot.addWidget(dialog)
    fields = dialog.findChildren(QAbstractSpinBox) + dialog.findChildren(QComboBox)
    fields += dialog.findChildren(QCheckBox) + dialog.findChildren(QPlainTextEdit)
    assert fields
    assert [f.accessibleName() for f in fields if not f.toolTip()] == []


def test_convert_local_api_and_help_are_one_click_away(
    main_window: Callable[[], MainWindow],
) -> None:
    window = main_window()
    assert {"convert", "api", "help", "settings"} <= window.toolbar_actions.keys()
    menus = [a.text() for a in window.menuBar().actions()]
    assert "&Help" in menus


def test_model_picker_has_badges_and_search(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    put_in_library(tiny_f16)
    put_in_library(tiny_f16, "other-model-Q8_0.gguf")
    window = main_window()
    picker = window.chat.model_bar.combo
    path = str(library_dir() / tiny_f16.name)
    qtbot.waitUntil(lambda: picker.count() == 2)
    qtbot.waitUntil(lambda: bool((b := picker.badges(path)) and b.fit), timeout=30_000)
    badges = picker.badges(path)
    assert badges is not None and badges.level == "F16" and "MiB" in badges.size
    assert badges.fit in {"Full GPU", "Partial GPU", "CPU only", "Will not fit"}
    completer = picker.completer()
    completer.setCompletionPrefix("OTHER")  # any part of the name, any case
    assert completer.completionCount() == 1
    assert completer.currentCompletion() == "other-model-Q8_0.gguf"


def test_hub_results_keep_room_for_the_repo_id_on_a_small_window(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    window.tabs.setCurrentWidget(window.hub)
    table = window.hub.table
    window.resize(1024, 640)
    qtbot.waitUntil(lambda: table.isColumnHidden(2) and table.isColumnHidden(5))
    window.resize(1920, 1080)
    qtbot.waitUntil(lambda: not table.isColumnHidden(2) and not table.isColumnHidden(5))


def test_empty_compare_and_hub_say_what_to_do_next(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    """With an empty library, Compare and the Hub name the next step instead of a grey area."""
    window = main_window()
    wait_until(qtbot, lambda: window.hardware is not None)
    window.tabs.setCurrentWidget(window.compare)
    chart = window.compare.ladder.chart
    qtbot.waitExposed(chart)
    assert not chart.points and chart.accessibleDescription().startswith(EMPTY_CHART_TITLE)
    assert "Convert" in chart.accessibleDescription() and "Hub" in chart.accessibleDescription()
    assert window.compare.ladder.rule.isHidden()  # no recommendation rule without levels
    image = chart.grab().toImage()
    centre = image.copy(image.width() // 4, image.height() // 3, image.width() // 2,
                        image.height() // 3)  # fmt: skip
    colours = {centre.pixel(x, y) for x in range(0, centre.width(), 3)
               for y in range(0, centre.height(), 3)}  # fmt: skip
    assert len(colours) > 2  # the heading and text are drawn there
    window.tabs.setCurrentWidget(window.hub)
    panel = window.hub.repo
    assert panel.title.text() == EMPTY_HUB_TITLE and panel.facts.isVisible()
    assert "Search" in panel.facts.text() and "Download" in panel.facts.text()
