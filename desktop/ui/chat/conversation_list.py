"""Saved conversations in folders: search, new, duplicate, move, rename, delete and export.

Folders sit at the top of the list, conversations without one below them. A conversation goes
into a folder through Move to (or by dragging it onto the folder); deleting a folder moves its
conversations out of it, it never deletes them. Whether a folder is open is remembered.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from converter.errors import QuantdeskError
from converter.storage import atomic_output
from desktop.services.conversations import ConversationStore, Folder
from desktop.ui.icons import icon, set_icon

ID_ROLE = Qt.ItemDataRole.UserRole  # a conversation's id
FOLDER_ROLE = Qt.ItemDataRole.UserRole + 1  # a folder's id (on folder rows only)
COLLAPSED_ROLE = Qt.ItemDataRole.UserRole + 2  # whether the user closed the folder
_CONVERSATION_FLAGS = (
    Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
)
_FOLDER_FLAGS = (
    Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDropEnabled
)


class ConversationTree(QTreeWidget):
    """The list itself: a conversation dropped on a folder (or on one of its conversations)
    goes into that folder; dropped on a conversation outside folders, or below the rows, it
    leaves its folder. The store is changed by the owner; the rows are rebuilt from it."""

    dropped = Signal(int, object)  # conversation id, folder id or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setIndentation(14)
        self.setRootIsDecorated(True)
        # A long title is cut with "…" (the whole title is its tooltip), never scrolled sideways.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.header().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setWordWrap(False)
        self.setUniformRowHeights(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)

    def folder_at_drop(self, item: QTreeWidgetItem | None) -> int | None:
        if item is None:
            return None
        if item.data(0, FOLDER_ROLE) is not None:
            return int(item.data(0, FOLDER_ROLE))
        parent = item.parent()
        return None if parent is None else int(parent.data(0, FOLDER_ROLE))

    def dropEvent(self, event: QDropEvent) -> None:
        folder_id = self.folder_at_drop(self.itemAt(event.position().toPoint()))
        moved = [
            int(item.data(0, ID_ROLE))
            for item in self.selectedItems()
            if item.data(0, ID_ROLE) is not None
        ]
        # Qt's own move would rearrange the rows; the store decides where they go instead.
        event.setDropAction(Qt.DropAction.IgnoreAction)
        event.accept()
        for conversation_id in moved:
            self.dropped.emit(conversation_id, folder_id)


class ConversationList(QWidget):
    selected = Signal(int)  # conversation id
    new_requested = Signal()
    deleted = Signal(int)
    open_beside_requested = Signal(int)  # conversation id: shown in a second pane
    renamed = Signal(int)  # conversation id

    def __init__(self, store: ConversationStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.search = QLineEdit()
        self.search.setAccessibleName("Search conversations")
        self.search.setPlaceholderText("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refresh)
        self.search.setObjectName("search")
        self.new_folder_button = QToolButton()
        set_icon(self.new_folder_button, "folder-plus")
        self.new_folder_button.setAccessibleName("New folder")
        self.new_folder_button.setToolTip("New folder: group conversations under a name")
        self.new_folder_button.clicked.connect(lambda: self.ask_new_folder())
        self.list = ConversationTree()
        self.list.setAccessibleName("Conversations")
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemExpanded.connect(lambda item: self._on_folder_toggled(item, False))
        self.list.itemCollapsed.connect(lambda item: self._on_folder_toggled(item, True))
        self.list.dropped.connect(self._on_dropped)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._on_context_menu)
        self.new_button = self._button("New", self.new_requested.emit, "plus")
        self.new_button.setToolTip("Start a new conversation")
        self.duplicate_button = self._button("Duplicate", self.duplicate_current, "copy")
        self.duplicate_button.setToolTip(
            "Copy the selected conversation, to try another turn and keep the original"
        )
        self.move_button = self._button("Move to", lambda: None, "folder-open")
        self.move_button.setToolTip(
            "Put the selected conversation in a folder, or take it out (dragging it works too)"
        )
        self.move_menu = QMenu(self.move_button)
        self.move_menu.aboutToShow.connect(self._fill_move_menu)
        self.move_button.setMenu(self.move_menu)
        self.rename_button = self._button("Rename…", self._on_rename_clicked, "cursor-text")
        self.rename_button.setToolTip("Give the selected conversation or folder another name")
        self.delete_button = self._button("Delete…", self._on_delete_clicked, "trash")
        self.delete_button.setToolTip(
            "Delete the selected conversation (asks first); a folder's conversations are kept"
        )
        self.export_button = self._button("Export…", self._on_export_clicked, "file-export")
        self.export_button.setToolTip("Save the selected conversation as Markdown or JSON")
        self.notice = QLabel("")
        self.notice.setObjectName("notice")
        self.notice.setAccessibleName("Conversation notice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        search_row = QHBoxLayout()
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.new_folder_button)
        row = QGridLayout()
        for i, b in enumerate(
            (
                self.new_button,
                self.duplicate_button,
                self.move_button,
                self.rename_button,
                self.export_button,
                self.delete_button,
            )
        ):
            row.addWidget(b, i // 2, i % 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(search_row)
        layout.addWidget(self.list, 1)
        layout.addLayout(row)
        layout.addWidget(self.notice)
        self.refresh()

    def _button(self, text: str, slot: Callable[[], object], icon_name: str) -> QPushButton:
        button = QPushButton(text)
        set_icon(button, icon_name)
        button.setAccessibleName(text.rstrip("…"))
        button.clicked.connect(slot)
        return button

    # what is selected ----------------------------------------------------------------------
    def current_id(self) -> int | None:
        """The selected conversation (None when nothing or a folder is selected)."""
        item = self.list.currentItem()
        if item is None or item.data(0, ID_ROLE) is None:
            return None
        return int(item.data(0, ID_ROLE))

    def current_folder_id(self) -> int | None:
        """The selected folder (None when nothing or a conversation is selected)."""
        item = self.list.currentItem()
        if item is None or item.data(0, FOLDER_ROLE) is None:
            return None
        return int(item.data(0, FOLDER_ROLE))

    def folder_item(self, folder_id: int) -> QTreeWidgetItem | None:
        for i in range(self.list.topLevelItemCount()):
            item = self.list.topLevelItem(i)
            if item is not None and item.data(0, FOLDER_ROLE) == folder_id:
                return item
        return None

    def _current_text(self) -> str:
        item = self.list.currentItem()
        return "" if item is None else item.text(0)

    def context_menu_for(self, item: QTreeWidgetItem | None) -> QMenu | None:
        """A conversation's menu: Open beside shows it in a second pane (split view)."""
        if item is None or item.data(0, ID_ROLE) is None:
            return None
        menu = QMenu(self)
        beside = menu.addAction(icon("arrow-bar-right"), "Open beside")
        beside.setToolTip("Show this conversation in a second pane beside the open one")
        cid = int(item.data(0, ID_ROLE))
        beside.triggered.connect(lambda _checked=False: self.open_beside_requested.emit(cid))
        return menu

    def _on_context_menu(self, point: QPoint) -> None:
        menu = self.context_menu_for(self.list.itemAt(point))
        if menu is not None:
            menu.exec(self.list.viewport().mapToGlobal(point))

    def _items(self) -> list[QTreeWidgetItem]:
        found: list[QTreeWidgetItem] = []
        for i in range(self.list.topLevelItemCount()):
            top = self.list.topLevelItem(i)
            if top is None:
                continue
            found.append(top)
            found += [c for j in range(top.childCount()) if (c := top.child(j)) is not None]
        return found

    # building the rows ---------------------------------------------------------------------
    def refresh(self) -> None:
        current = self.current_id()
        current_folder = self.current_folder_id()
        searching = bool(self.search.text().strip())
        summaries = self.store.list(self.search.text())
        self.list.blockSignals(True)
        self.list.clear()
        folder_items: dict[int, QTreeWidgetItem] = {}
        for folder in self.store.folders():
            count = sum(1 for s in summaries if s.folder_id == folder.id)
            if searching and not count:
                continue  # a search shows the folders that hold a match
            folder_items[folder.id] = self._folder_row(folder, count)
        for summary in summaries:
            item = QTreeWidgetItem([summary.title])
            item.setData(0, ID_ROLE, summary.id)
            item.setFlags(_CONVERSATION_FLAGS)
            model = f"\n{Path(summary.model_path).name}" if summary.model_path else ""
            item.setToolTip(0, f"{summary.title}{model}")
            parent = folder_items.get(summary.folder_id) if summary.folder_id else None
            if parent is not None:
                parent.addChild(item)
            else:
                self.list.addTopLevelItem(item)
        for folder_id, item in folder_items.items():
            item.setExpanded(searching or not bool(item.data(0, COLLAPSED_ROLE)))
            if folder_id == current_folder:
                self.list.setCurrentItem(item)
        for item in self._items():
            if current is not None and item.data(0, ID_ROLE) == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._enable_actions()

    def _folder_row(self, folder: Folder, count: int) -> QTreeWidgetItem:
        item = QTreeWidgetItem([f"{folder.name} · {count}"])
        item.setIcon(0, icon("folder-open"))
        item.setData(0, FOLDER_ROLE, folder.id)
        item.setData(0, COLLAPSED_ROLE, folder.collapsed)
        item.setFlags(_FOLDER_FLAGS)
        item.setToolTip(0, f"Folder “{folder.name}”: {count} conversation(s)")
        font = item.font(0)
        font.setBold(True)
        item.setFont(0, font)
        item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
        self.list.addTopLevelItem(item)
        return item

    def select(self, conversation_id: int) -> None:
        """Make the conversation the current one; a closed folder holding it stays closed
        (the one reopened at start must not undo the user's choice)."""
        self.refresh()
        for item in self._items():
            if item.data(0, ID_ROLE) == conversation_id:
                self.list.setCurrentItem(item)
                return

    def _on_current_changed(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        self._enable_actions()
        if current is not None and current.data(0, ID_ROLE) is not None:
            self.selected.emit(int(current.data(0, ID_ROLE)))

    def _enable_actions(self) -> None:
        conversation = self.current_id() is not None
        folder = self.current_folder_id() is not None
        for b in (self.duplicate_button, self.move_button, self.export_button):
            b.setEnabled(conversation)
        for b in (self.rename_button, self.delete_button):
            b.setEnabled(conversation or folder)

    # folders -------------------------------------------------------------------------------
    def _on_folder_toggled(self, item: QTreeWidgetItem, collapsed: bool) -> None:
        folder_id = item.data(0, FOLDER_ROLE)
        if folder_id is None or self.search.text().strip():
            return  # a search opens every folder it shows; that is not the user's choice
        item.setData(0, COLLAPSED_ROLE, collapsed)
        self.store.set_folder_collapsed(int(folder_id), collapsed)

    def ask_new_folder(self, *, then_move: int | None = None) -> int | None:
        """Ask for a name and create the folder (``then_move``: a conversation to put in it)."""
        name, ok = QInputDialog.getText(self, "New folder", "Folder name:")
        if not ok:
            return None
        try:
            folder_id = self.store.create_folder(name)
            if then_move is not None:
                self.store.move_to_folder(then_move, folder_id)
        except QuantdeskError as exc:
            QMessageBox.warning(self, "New folder", str(exc))
            return None
        self.refresh()
        if then_move is None:
            item = self.folder_item(folder_id)
            if item is not None:
                self.list.setCurrentItem(item)
        return folder_id

    def _fill_move_menu(self) -> None:
        self.move_menu.clear()
        cid = self.current_id()
        if cid is None:
            return
        item = self.list.currentItem()
        parent = item.parent() if item is not None else None
        here = None if parent is None else int(parent.data(0, FOLDER_ROLE))
        for folder in self.store.folders():
            action = self.move_menu.addAction(icon("folder-open"), folder.name)
            action.setCheckable(True)
            action.setChecked(folder.id == here)
            action.triggered.connect(lambda _=False, f=folder.id: self.move_current(f))
        if self.store.folders():
            self.move_menu.addSeparator()
        out = self.move_menu.addAction("Out of its folder")
        out.setEnabled(here is not None)
        out.triggered.connect(lambda: self.move_current(None))
        new = self.move_menu.addAction(icon("folder-plus"), "New folder…")
        new.triggered.connect(lambda: self.ask_new_folder(then_move=cid))

    def move_current(self, folder_id: int | None) -> None:
        cid = self.current_id()
        if cid is not None:
            self._move(cid, folder_id)

    def _on_dropped(self, conversation_id: int, folder_id: object) -> None:
        folder = folder_id if isinstance(folder_id, int) else None
        # After the drag has ended: the rows it started from are rebuilt.
        QTimer.singleShot(0, lambda: self._move(conversation_id, folder))

    def _move(self, conversation_id: int, folder_id: int | None) -> None:
        try:
            self.store.move_to_folder(conversation_id, folder_id)
        except QuantdeskError as exc:
            QMessageBox.warning(self, "Move conversation", str(exc))
        self.select(conversation_id)

    # rename, delete, duplicate, export -----------------------------------------------------
    def duplicate_current(self) -> None:
        """Copy the selected conversation and open the copy."""
        cid = self.current_id()
        if cid is not None:
            self.select(self.store.duplicate(cid))

    def _on_rename_clicked(self) -> None:
        folder_id = self.current_folder_id()
        if folder_id is not None:
            folder = next(f for f in self.store.folders() if f.id == folder_id)
            name, ok = QInputDialog.getText(self, "Rename folder", "Folder name:", text=folder.name)
            if ok:
                try:
                    self.store.rename_folder(folder_id, name)
                except QuantdeskError as exc:
                    QMessageBox.warning(self, "Rename folder", str(exc))
                self.refresh()
            return
        cid = self.current_id()
        if cid is None:
            return
        title, ok = QInputDialog.getText(
            self, "Rename conversation", "Title:", text=self._current_text()
        )
        if ok:
            self.store.rename(cid, title)
            self.refresh()
            self.renamed.emit(cid)

    def _on_delete_clicked(self) -> None:
        folder_id = self.current_folder_id()
        if folder_id is not None:
            self._delete_folder(folder_id)
            return
        cid = self.current_id()
        if cid is None:
            return
        answer = QMessageBox.question(
            self, "Delete conversation", f"Delete “{self._current_text()}”?"
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.store.delete(cid)
            self.refresh()
            self.deleted.emit(cid)

    def _delete_folder(self, folder_id: int) -> None:
        folder = next(f for f in self.store.folders() if f.id == folder_id)
        count = sum(1 for s in self.store.list() if s.folder_id == folder_id)
        kept = (
            f"Its {count} conversation{'s' if count != 1 else ''} move out of the folder; "
            "none is deleted."
            if count
            else "It is empty."
        )
        answer = QMessageBox.question(
            self, "Delete folder", f"Delete the folder “{folder.name}”? {kept}"
        )
        if answer == QMessageBox.StandardButton.Yes:
            moved = self.store.delete_folder(folder_id)
            self.refresh()
            if moved:
                self.show_notice(
                    f"Folder “{folder.name}” deleted; its {moved} conversation"
                    f"{'s' if moved != 1 else ''} kept, outside any folder."
                )

    def _on_export_clicked(self) -> None:
        cid = self.current_id()
        if cid is None:
            return
        name, chosen_filter = QFileDialog.getSaveFileName(
            self,
            "Export conversation",
            str(Path.home() / "conversation.md"),
            "Markdown (*.md);;JSON (*.json)",
        )
        if name:
            path = Path(name)
            if not path.suffix:  # a name typed without extension: the chosen format decides
                path = path.with_suffix(".json" if "json" in chosen_filter.lower() else ".md")
            self.export_to(cid, path)

    def export_to(self, cid: int, path: Path) -> None:
        text = (
            self.store.export_json(cid)
            if path.suffix.lower() == ".json"
            else self.store.export_markdown(cid)
        )
        try:
            with atomic_output(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", f"Could not write {path}: {exc.strerror}.")
            return
        self.show_notice(f"Exported to {path}.")

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setToolTip(text)
        self.notice.show()
