"""The Hub tab: search the Hugging Face hub, open a repo, follow the downloads.

Every hub call runs in a worker thread, so a slow or absent network never freezes the app;
when the hub cannot be reached a banner says so (with a retry) and the rest of the app is
unaffected. The hub client (``huggingface_hub`` and its HTTP stack) is imported by the first
search, on its worker thread, so it costs nothing at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from converter.storage import format_bytes
from desktop.ui.hub.download_manager import DownloadManager
from desktop.ui.hub.downloads import DownloadsPanel
from desktop.ui.hub.repo_panel import RepoPanel
from desktop.ui.thread_tasks import ThreadTask, call_worker

if TYPE_CHECKING:
    from converter.hub.hub_client import ModelSummary
    from desktop.engine.hardware import HardwareInfo

COLUMNS = ("Model", "Downloads", "Likes", "Size", "Architecture", "Licence", "Access")
#: Below this table width the Likes and Licence columns step aside (the repo panel shows the
#: licence), so the repo id keeps room to be read.
NARROW_TABLE_PX = 760
OPTIONAL_COLUMNS = (2, 5)
SEARCH_LIMIT = 50
REPO_ROLE = Qt.ItemDataRole.UserRole


def _search(text: str, limit: int) -> list[ModelSummary]:
    from converter.hub.hub_client import search_models

    return search_models(text, limit=limit)


def _count(n: int) -> str:
    """``1234567`` → ``"1.2M"``: download counts are read at a glance, not to the unit."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.1f}{suffix}"
    return str(n)


def _row(hit: ModelSummary) -> list[str]:
    """Short cells: the table must stay readable in a small window; tooltips say more."""
    arch = hit.model_type or ("GGUF" if hit.is_gguf else "unknown")
    return [
        hit.repo_id,
        _count(hit.downloads),
        _count(hit.likes),
        format_bytes(hit.size_bytes) if hit.size_bytes else "GGUF" if hit.is_gguf else "?",
        f"{arch} ✔" if hit.supported else f"{arch} ✘",
        hit.license or "",
        "gated" if hit.gated else "open",
    ]


def _tooltip(hit: ModelSummary, column: int) -> str:
    if column == 4:
        return (
            "Quantdesk can use this model."
            if hit.supported
            else "Quantdesk cannot convert or run this architecture yet."
        )
    if column == 6 and hit.gated:
        return "Accept the licence on the model's hub page and enter a token to download it."
    kind = "GGUF files, ready to download" if hit.is_gguf else "a checkpoint to convert"
    return f"{hit.repo_id}: {kind}"


class NumericItem(QTableWidgetItem):
    """Sorts by the number behind the text ("1.2M" after "900k")."""

    def __init__(self, text: str, value: float) -> None:
        super().__init__(text)
        self.value = value

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, NumericItem):
            return self.value < other.value
        return super().__lt__(other)


class HubView(QWidget):
    convert_requested = Signal(str)  # repo id for the conversion wizard
    token_requested = Signal(str)  # why (may be empty)
    downloaded = Signal(object)  # Path of a finished model

    def __init__(
        self, dest_dir: Path, manager: DownloadManager | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName("Hugging Face hub")
        self.manager = manager or DownloadManager(parent=self)
        self.results: list[ModelSummary] = []
        self._search: ThreadTask | None = None

        self.banner = QFrame()
        self.banner.setObjectName("offlineBanner")
        self.banner_text = QLabel()
        self.banner_text.setObjectName("warning")
        self.banner_text.setAccessibleName("Offline")
        self.banner_text.setWordWrap(True)
        retry = QPushButton("Try again")
        retry.setAccessibleName("Try the hub again")
        retry.clicked.connect(self.search)
        banner_row = QHBoxLayout(self.banner)
        banner_row.addWidget(self.banner_text, 1)
        banner_row.addWidget(retry)
        self.banner.hide()

        self.query = QLineEdit()
        self.query.setAccessibleName("Search the hub")
        self.query.setPlaceholderText("Search models on Hugging Face, e.g. qwen2.5 gguf")
        self.query.returnPressed.connect(self.search)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        token_button = QPushButton("Token…")
        token_button.setAccessibleName("Hugging Face token")
        token_button.clicked.connect(lambda: self.token_requested.emit(""))
        search_row = QHBoxLayout()
        search_row.addWidget(self.query, 1)
        search_row.addWidget(self.search_button)
        search_row.addWidget(token_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setAccessibleName("Search results")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        # Sorting starts the way the hub answers: most downloaded first.
        self.table.horizontalHeader().setSortIndicator(1, Qt.SortOrder.DescendingOrder)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(48)
        # A long repo id on a narrow window: one line, cut in the middle ("org/Na…GGUF").
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.table.installEventFilter(self)
        self.status = QLabel(
            "Type a model name and press Enter: GGUF files download straight into the library; "
            "checkpoints open in the conversion wizard."
        )
        self.status.setObjectName("hint")
        self.status.setAccessibleName("Search status")
        self.status.setWordWrap(True)

        self.repo = RepoPanel(self.manager, dest_dir)
        self.repo.convert_requested.connect(self.convert_requested)
        self.repo.token_requested.connect(self.token_requested)
        self.repo.offline.connect(self._show_offline)
        self.repo.reached.connect(self.banner.hide)
        self.downloads = DownloadsPanel(self.manager)
        downloads_box = QGroupBox("Downloads")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.downloads)
        QVBoxLayout(downloads_box).addWidget(scroll)
        self.manager.completed.connect(lambda _key, path: self.downloaded.emit(path))

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(search_row)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.status)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.repo)
        right.addWidget(downloads_box)
        right.setSizes([480, 220])
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([700, 580])
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(split, 1)

    def set_fit_inputs(self, hardware: HardwareInfo, ctx_tokens: int, kv_type: str) -> None:
        self.repo.set_fit_inputs(hardware, ctx_tokens, kv_type)

    # searching -----------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and event.type() == QEvent.Type.Resize:
            narrow = self.table.width() < NARROW_TABLE_PX
            for column in OPTIONAL_COLUMNS:
                self.table.setColumnHidden(column, narrow)
        return False

    def search(self) -> ThreadTask:
        text = self.query.text().strip()
        if self._search is not None:
            self._search.cancel()
        self.status.setText(f"Searching for “{text}”…" if text else "Loading popular models…")
        worker = call_worker(_search, text, SEARCH_LIMIT)
        worker.signals.returned.connect(lambda hits: self._on_results(worker, text, hits))
        worker.signals.errored.connect(lambda exc: self._on_search_failed(worker, exc))
        self._search = worker
        return worker.start()

    def _on_results(self, worker: ThreadTask, text: str, hits: list[ModelSummary]) -> None:
        if worker is not self._search:
            return  # a newer search replaced this one
        self.banner.hide()
        self.results = hits
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(hits))
        for row, hit in enumerate(hits):
            for column, value in enumerate(_row(hit)):
                number = {1: hit.downloads, 2: hit.likes, 3: hit.size_bytes or 0}.get(column)
                item = QTableWidgetItem(value) if number is None else NumericItem(value, number)
                item.setData(REPO_ROLE, hit.repo_id)
                item.setToolTip(_tooltip(hit, column))
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        where = f" for “{text}”" if text else ""
        self.status.setText(
            f"{len(hits)} model(s){where}, most downloaded first. Select one to see its files."
            if hits
            else f"No text-generation models{where}."
        )

    def _on_search_failed(self, worker: ThreadTask, exc: BaseException) -> None:
        if worker is not self._search:
            return
        from converter.hub.hub_errors import HubOffline  # loaded by the search already

        if isinstance(exc, HubOffline):
            self._show_offline(str(exc))
            self.status.setText("Search needs the hub; your library and chats work offline.")
        else:
            self.status.setText(str(exc))

    def _show_offline(self, message: str) -> None:
        self.banner_text.setText(f"Offline. {message}")
        self.banner.show()

    def _on_selection_changed(self) -> None:
        items = self.table.selectedItems()
        if items:
            self.open_repo(items[0].data(REPO_ROLE))

    def open_repo(self, repo_id: str) -> ThreadTask:
        return self.repo.open_repo(repo_id)
