"""Chat folders in the conversation list: create, move in (menu and drag), collapse, rename,
and delete a folder without losing its conversations; all of it kept across a restart."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from desktop.services.conversations import ConversationStore
from desktop.ui.chat.conversation_list import ConversationList
from desktop.ui.main_window import MainWindow
from tests.support.stall_probe import StallProbe, assert_responsive, settle_window
from tests.support.ui_dialogs import InputDialogAnswer, MessageBoxAnswer
from tests.support.ui_helpers import main_window_fixture, wait_until  # noqa: F401


def rows(conversations: ConversationList) -> list[tuple[str, list[str]]]:
    """The list as shown: each top row's text with the titles under it."""
    tree = conversations.list
    shown = []
    for i in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(i)
        shown.append((top.text(0), [top.child(j).text(0) for j in range(top.childCount())]))
    return shown


def drop_on_row(conversations: ConversationList, title: str, target_text: str) -> None:
    """Drag the conversation ``title`` onto the row that reads ``target_text``."""
    tree = conversations.list
    (dragged,) = tree.findItems(title, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
    (target,) = tree.findItems(target_text, Qt.MatchFlag.MatchExactly)
    tree.setCurrentItem(dragged)
    at = QPointF(tree.visualItemRect(target).center())
    event = QDropEvent(
        at,
        Qt.DropAction.MoveAction,
        tree.mimeData([dragged]),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    tree.dropEvent(event)


def test_folders_group_conversations_and_deleting_one_keeps_them(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    window.resize(1024, 640)
    window.tabs.setCurrentWidget(window.chat)
    store = window.store
    ids = {title: store.create(title) for title in ("Alps", "Rome", "Groceries")}
    conversations = window.chat.conversations
    conversations.refresh()
    settle_window(qtbot, window)

    probe = StallProbe()
    answer = InputDialogAnswer("Trips")
    conversations.new_folder_button.click()
    assert answer.labels == ["Folder name:"]
    (trips,) = store.folders()
    assert conversations.current_folder_id() == trips.id
    assert not conversations.move_button.isEnabled()  # a folder is selected, not a chat

    conversations.select(ids["Alps"])  # into the folder through Move to
    conversations.move_menu.aboutToShow.emit()
    (into,) = [a for a in conversations.move_menu.actions() if a.text() == "Trips"]
    into.trigger()
    drop_on_row(conversations, "Rome", "Trips · 1")  # and by dragging onto the folder
    wait_until(qtbot, lambda: rows(conversations)[0] == ("Trips · 2", ["Rome", "Alps"]))
    assert window.chat.conversation_id == ids["Rome"]  # the moved chat stays open
    assert rows(conversations)[1:] == [("Groceries", [])]
    conversations.folder_item(trips.id).setExpanded(False)
    conversations.list.setCurrentItem(conversations.folder_item(trips.id))
    renamed = InputDialogAnswer("Summer trips")  # kept: its timer answers the dialog
    conversations.rename_button.click()
    assert renamed.labels == ["Folder name:"]
    assert_responsive(probe)

    window.close()
    again = main_window()
    conversations = again.chat.conversations
    (folder,) = ConversationStore().folders()
    assert (folder.name, folder.collapsed) == ("Summer trips", True)
    assert rows(conversations) == [("Summer trips · 2", ["Rome", "Alps"]), ("Groceries", [])]
    assert not conversations.folder_item(folder.id).isExpanded()
    conversations.search.setText("alp")  # a search opens the folders that hold a match
    assert rows(conversations) == [("Summer trips · 1", ["Alps"])]
    assert conversations.folder_item(folder.id).isExpanded()
    conversations.search.clear()
    assert ConversationStore().folders()[0].collapsed  # the search changed nothing

    conversations.list.setCurrentItem(conversations.folder_item(folder.id))
    answer_box = MessageBoxAnswer(QMessageBox.StandardButton.Yes)
    conversations.delete_button.click()
    assert answer_box.texts == [
        "Delete the folder “Summer trips”? Its 2 conversations move out of the folder; "
        "none is deleted."
    ]
    assert sorted(title for title, _ in rows(conversations)) == ["Alps", "Groceries", "Rome"]
    assert len(ConversationStore().list()) == 3
    assert "kept, outside any folder" in conversations.notice.text()


def test_the_list_stays_readable_with_folders_at_1024x640(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    window.resize(1024, 640)
    window.tabs.setCurrentWidget(window.chat)
    store = window.store
    folder = store.create_folder("A folder with a rather long name for its place")
    store.move_to_folder(store.create("A very long conversation title " * 4), folder)
    conversations = window.chat.conversations
    conversations.refresh()
    qtbot.wait(50)
    assert window.height() <= 640
    assert not conversations.list.horizontalScrollBar().isVisible()
    for button in (conversations.move_button, conversations.delete_button):
        assert button.width() >= button.sizeHint().width()  # no label cut short
