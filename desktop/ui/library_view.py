"""The model library: every GGUF grouped by base model, with size, fit and measured figures.

Scanning and the fit predictions run in worker threads; the tree is filled on the GUI thread
when they return. The folders are watched (:class:`QFileSystemWatcher`): a file that appears,
disappears or is replaced (written under a temporary name and renamed, as every writer in
Quantdesk does) starts a rescan after :data:`RESCAN_DELAY_MS`, so the library, the chat's model
list and Compare always show what is on the disk. Import copies a file into the library
atomically (progress in the status line, cancellable); delete asks first; reveal opens the
folder in the file manager.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from converter.gguf_shards import all_parts
from converter.paths import shown_path
from converter.progress import Progress
from converter.storage import format_bytes
from desktop.services.ladder_data import LadderPoint
from desktop.services.library_scan import LibraryScanner, points_by_path
from desktop.ui.icons import set_icon
from desktop.ui.thread_tasks import ThreadTask, call_worker, job_worker

if TYPE_CHECKING:
    from desktop.engine.hardware import HardwareInfo
    from desktop.services import library

PATH_ROLE = Qt.ItemDataRole.UserRole
#: Changes in a burst (a download's rename, a conversion's several levels) make one rescan.
RESCAN_DELAY_MS = 250

COLUMNS = ("Model / level", "Size", "Bits/weight", "Fit on this machine", "Speed", "Quality")


class LibraryView(QWidget):
    chat_requested = Signal(str)
    compare_requested = Signal(list)
    folders_changed = Signal()
    scanned = Signal()
    points_updated = Signal()  # fit and measured figures of the files are in ``points``

    def __init__(self, folders: list[Path], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Model library")
        self.folders = folders
        self.hardware: HardwareInfo | None = None
        self.context_tokens = 4096
        self.kv_type = "f16"
        self.groups: list[library.ModelGroup] = []
        self._scanner = LibraryScanner()
        self._points: dict[Path, LadderPoint] = {}
        self._import: ThreadTask | None = None
        self._scan: ThreadTask | None = None
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._on_folder_changed)
        self.watcher.fileChanged.connect(self._on_folder_changed)
        self._rescan = QTimer(self)
        self._rescan.setSingleShot(True)
        self._rescan.setInterval(RESCAN_DELAY_MS)
        self._rescan.timeout.connect(self.refresh)

        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Models")
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.itemDoubleClicked.connect(self._on_item_double_clicked)
        self.tree.itemSelectionChanged.connect(self._on_selection_changed)

        self.import_button = self._button("Import GGUF…", self._on_import_clicked, "file-import")
        self.import_button.setToolTip("Copy a GGUF file into the library folder")
        self.folder_button = self._button("Add folder…", self._on_add_folder_clicked, "folder-plus")
        self.folder_button.setToolTip("List the GGUF files of another folder too (nothing copied)")
        self.chat_button = self._button("Chat", self._on_chat_clicked, "message-circle")
        self.chat_button.setToolTip("Load the selected file in the Chat tab (or double-click it)")
        self.compare_button = self._button("Compare", self._on_compare_clicked, "chart-bar")
        self.compare_button.setToolTip("Compare 2–4 selected levels: size, fit, speed, quality")
        self.reveal_button = self._button("Show in folder", self._on_reveal_clicked, "folder-open")
        self.reveal_button.setToolTip("Open the selected file's folder in the file manager")
        self.delete_button = self._button("Delete…", self._on_delete_clicked, "trash")
        self.delete_button.setToolTip("Delete the selected file from the disk (asks first)")
        self.refresh_button = self._button("Refresh", self.refresh, "refresh")
        self.refresh_button.setToolTip(
            "Read the folders again (they are watched: changes show by themselves)"
        )
        manage = QHBoxLayout()  # two short rows keep the window usable on small screens
        for b in (self.import_button, self.folder_button, self.refresh_button):
            manage.addWidget(b)
        manage.addStretch(1)
        act = QHBoxLayout()
        for b in (self.chat_button, self.compare_button, self.reveal_button, self.delete_button):
            act.addWidget(b)
        act.addStretch(1)
        self.empty_hint = QLabel(
            "No models yet.\nDownload the suggestion above, find one in the Hub tab, import a "
            "GGUF file you have, or convert a Hugging Face checkpoint (Convert in the toolbar)."
        )
        self.empty_hint.setObjectName("emptyState")
        self.empty_hint.setAccessibleName("Empty library")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        self.empty_hint.hide()
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setAccessibleName("Library status")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(manage)
        layout.addLayout(act)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty_hint, 1)
        layout.addWidget(self.status)
        self._on_selection_changed()

    def _button(self, text: str, slot: Any, icon_name: str) -> QPushButton:
        button = QPushButton(text)
        set_icon(button, icon_name)
        button.setAccessibleName(text.rstrip("…"))
        button.clicked.connect(slot)
        return button

    # scanning ------------------------------------------------------------------------------
    def refresh(self) -> ThreadTask:
        folders = list(self.folders)
        worker = call_worker(self._scanner.scan, folders)
        worker.signals.returned.connect(self._on_scanned)
        worker.signals.errored.connect(lambda exc: self.status.setText(str(exc)))
        self._scan = worker
        return worker.start()

    def _on_folder_changed(self, _path: str) -> None:
        self._rescan.start()  # restarted by every change of a burst

    def _watch(self, groups: list[library.ModelGroup]) -> None:
        """Watch the folders, the folders holding models below them, and the model files."""
        with contextlib.suppress(OSError):  # watched from the start, so the first file shows
            self.folders[0].mkdir(parents=True, exist_ok=True)
        wanted = {str(f) for f in self.folders if f.is_dir()}
        for group in groups:
            for facts in group.files:
                wanted.add(str(facts.path.parent))
                wanted.add(str(facts.path))
        watched = set(self.watcher.directories()) | set(self.watcher.files())
        if stale := watched - wanted:
            self.watcher.removePaths(sorted(stale))
        if new := wanted - watched:
            self.watcher.addPaths(sorted(new))

    def _on_scanned(self, groups: list[library.ModelGroup]) -> None:
        self.groups = groups
        self._watch(groups)
        count = sum(len(g.files) for g in groups)
        where = ", ".join(shown_path(f) for f in self.folders)
        self.status.setText(
            f"{count} {'model' if count == 1 else 'models'} in {where}."
            if count
            else f"No GGUF files yet in {where}. Import one, download one from the Hub tab, or "
            "convert a checkpoint (Convert in the toolbar)."
        )
        self.tree.setVisible(bool(groups))
        self.empty_hint.setVisible(not groups)
        self._populate()
        self.scanned.emit()
        self.update_fits()

    def set_fit_inputs(self, hardware: HardwareInfo, context_tokens: int, kv_type: str) -> None:
        self.hardware, self.context_tokens, self.kv_type = hardware, context_tokens, kv_type
        self.update_fits()

    def update_fits(self) -> None:
        """Fit badges and measured figures, computed off the GUI thread."""
        groups = list(self.groups)
        if not groups:
            return
        worker = call_worker(
            points_by_path, groups, self.hardware, self.context_tokens, self.kv_type
        )
        worker.signals.returned.connect(self._on_points)
        worker.start()

    def _on_points(self, points: dict[Path, LadderPoint]) -> None:
        self._points.update(points)
        self._populate()
        self.points_updated.emit()

    @property
    def points(self) -> dict[Path, LadderPoint]:
        return dict(self._points)

    def _populate(self) -> None:
        selected = set(self.selected_paths())
        self.tree.clear()
        for group in self.groups:
            top = QTreeWidgetItem([group.base_model])
            top.setFirstColumnSpanned(False)
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            self.tree.addTopLevelItem(top)
            for facts in group.files:
                item = QTreeWidgetItem(top, self._row(facts))
                item.setData(0, PATH_ROLE, str(facts.path))
                item.setToolTip(0, str(facts.path))
                if facts.error:
                    item.setToolTip(3, facts.error)
                item.setSelected(str(facts.path) in selected)
            top.setExpanded(True)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)

    def _row(self, facts: library.GgufFacts) -> list[str]:
        if facts.error:
            return [facts.level, format_bytes(facts.size_bytes), "", f"⚠ {facts.error}", "", ""]
        bpw = facts.bits_per_weight
        point = self._points.get(facts.path)
        name = facts.level_label
        if facts.path.name != f"{facts.base_model}-{facts.level}.gguf":
            name += f"  ({facts.path.name})"  # only names that add something; tooltip has all
        if point is None:
            return [
                name,
                format_bytes(facts.size_bytes),
                f"{bpw:.2f}" if bpw else "",
                "…",
                "…",
                "…",
            ]
        fit = point.fit_text if self.hardware is not None else "probing hardware…"
        return [
            name,
            format_bytes(facts.size_bytes),
            f"{bpw:.2f}" if bpw else "",
            fit,
            point.speed_text,
            point.quality_text,
        ]

    # selection and actions ---------------------------------------------------------------
    def selected_paths(self) -> list[str]:
        return [
            item.data(0, PATH_ROLE) for item in self.tree.selectedItems() if item.data(0, PATH_ROLE)
        ]

    def select_path(self, path: str) -> None:
        for item in self._items():
            item.setSelected(item.data(0, PATH_ROLE) == path)

    def _items(self) -> list[QTreeWidgetItem]:
        root = self.tree.invisibleRootItem()
        groups = [group for i in range(root.childCount()) if (group := root.child(i)) is not None]
        return [
            item
            for group in groups
            for j in range(group.childCount())
            if (item := group.child(j)) is not None
        ]

    def _on_selection_changed(self) -> None:
        count = len(self.selected_paths())
        for button in (self.chat_button, self.reveal_button, self.delete_button):
            button.setEnabled(count == 1)
        self.compare_button.setEnabled(2 <= count <= 4)

    def _on_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        if item.data(0, PATH_ROLE):
            self.chat_requested.emit(item.data(0, PATH_ROLE))

    def _on_chat_clicked(self) -> None:
        self.chat_requested.emit(self.selected_paths()[0])

    def _on_compare_clicked(self) -> None:
        self.compare_requested.emit(self.selected_paths())

    def _on_reveal_clicked(self) -> None:
        folder = Path(self.selected_paths()[0]).parent
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _on_delete_clicked(self) -> None:
        path = Path(self.selected_paths()[0])
        parts = len(all_parts(path))
        files = f"{parts} files, " if parts > 1 else ""  # a split model goes whole
        # The scan's figure: the selection comes from it, so no file is read on this thread.
        size = next(f.size_bytes for g in self.groups for f in g.files if f.path == path)
        answer = QMessageBox.question(
            self,
            "Delete model file",
            f"Delete {path.name} ({files}{format_bytes(size)}) from the disk?\n"
            "This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete(path)

    def delete(self, path: Path) -> None:
        from desktop.services import library

        try:
            library.delete_gguf(path, self.folders)
        except Exception as exc:  # a QuantdeskError with a readable message
            QMessageBox.warning(self, "Could not delete", str(exc))
            return
        self.status.setText(f"Deleted {path.name}.")
        self.refresh()

    def _on_import_clicked(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Import a GGUF model", str(Path.home()), "GGUF models (*.gguf)"
        )
        if name:
            self.import_file(Path(name))

    def import_file(self, source: Path) -> ThreadTask:
        """Copy ``source`` into the first library folder, in a worker thread."""
        from desktop.services import library

        target_folder = self.folders[0]
        worker = job_worker(
            lambda cancel: library.import_gguf(source, target_folder, cancel=cancel)
        )
        worker.signals.yielded.connect(self._on_import_progress)
        worker.signals.returned.connect(self._on_imported)
        worker.signals.errored.connect(
            lambda exc: QMessageBox.warning(self, "Import failed", str(exc))
        )
        self._import = worker
        self.import_button.setEnabled(False)
        worker.signals.finished.connect(lambda: self.import_button.setEnabled(True))
        return worker.start()

    def _on_import_progress(self, progress: Progress) -> None:
        fraction = progress.fraction or 0.0
        self.status.setText(f"{progress.message}: {fraction:.0%}")

    def _on_imported(self, target: Path) -> None:
        self.status.setText(f"Imported {target.name}.")
        self.refresh()

    def _on_add_folder_clicked(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Add a folder of GGUF models")
        if name and Path(name) not in self.folders:
            self.folders.append(Path(name))
            self.folders_changed.emit()
            self.refresh()
