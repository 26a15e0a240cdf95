"""Saved conversations: search, new, duplicate, rename, delete and export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from converter.storage import atomic_output
from desktop.services.conversations import ConversationStore
from desktop.ui.icons import set_icon

ID_ROLE = Qt.ItemDataRole.UserRole


class ConversationList(QWidget):
    selected = Signal(int)  # conversation id
    new_requested = Signal()
    deleted = Signal(int)

    def __init__(self, store: ConversationStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.search = QLineEdit()
        self.search.setAccessibleName("Search conversations")
        self.search.setPlaceholderText("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refresh)
        self.search.setObjectName("search")
        self.list = QListWidget()
        self.list.setAccessibleName("Conversations")
        # A long title is cut with "…" (the whole title is its tooltip), never scrolled sideways.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setWordWrap(False)
        self.list.setUniformItemSizes(True)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.new_button = self._button("New", self.new_requested.emit, "plus")
        self.new_button.setToolTip("Start a new conversation")
        self.duplicate_button = self._button("Duplicate", self.duplicate_current, "copy")
        self.duplicate_button.setToolTip(
            "Copy the selected conversation, to try another turn and keep the original"
        )
        self.rename_button = self._button("Rename…", self._on_rename_clicked, "cursor-text")
        self.rename_button.setToolTip("Give the selected conversation another title")
        self.delete_button = self._button("Delete…", self._on_delete_clicked, "trash")
        self.delete_button.setToolTip("Delete the selected conversation (asks first)")
        self.export_button = self._button("Export…", self._on_export_clicked, "file-export")
        self.export_button.setToolTip("Save the selected conversation as Markdown or JSON")
        self.notice = QLabel("")
        self.notice.setObjectName("notice")
        self.notice.setAccessibleName("Conversation notice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        row = QGridLayout()
        for i, b in enumerate(
            (self.new_button, self.duplicate_button, self.rename_button, self.export_button)
        ):
            row.addWidget(b, i // 2, i % 2)
        row.addWidget(self.delete_button, 2, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
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

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(ID_ROLE))

    def refresh(self) -> None:
        current = self.current_id()
        self.list.blockSignals(True)
        self.list.clear()
        for summary in self.store.list(self.search.text()):
            item = QListWidgetItem(summary.title)
            item.setData(ID_ROLE, summary.id)
            model = f"\n{Path(summary.model_path).name}" if summary.model_path else ""
            item.setToolTip(f"{summary.title}{model}")
            self.list.addItem(item)
            if summary.id == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._enable_actions(self.current_id() is not None)

    def select(self, conversation_id: int) -> None:
        self.refresh()
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == conversation_id:
                self.list.setCurrentRow(row)
                return

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        self._enable_actions(current is not None)
        if current is not None:
            self.selected.emit(int(current.data(ID_ROLE)))

    def _enable_actions(self, selected: bool) -> None:
        for b in (
            self.duplicate_button,
            self.rename_button,
            self.delete_button,
            self.export_button,
        ):
            b.setEnabled(selected)

    def duplicate_current(self) -> None:
        """Copy the selected conversation and open the copy."""
        cid = self.current_id()
        if cid is not None:
            self.select(self.store.duplicate(cid))

    def _on_rename_clicked(self) -> None:
        cid = self.current_id()
        if cid is None:
            return
        title, ok = QInputDialog.getText(
            self, "Rename conversation", "Title:", text=self.list.currentItem().text()
        )
        if ok:
            self.store.rename(cid, title)
            self.refresh()

    def _on_delete_clicked(self) -> None:
        cid = self.current_id()
        if cid is None:
            return
        answer = QMessageBox.question(
            self, "Delete conversation", f"Delete “{self.list.currentItem().text()}”?"
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.store.delete(cid)
            self.refresh()
            self.deleted.emit(cid)

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
