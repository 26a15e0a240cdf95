"""One repo opened from the search: its GGUF levels with size and fit, or a Convert button.

The listing and the remote headers are read in worker threads; the fit badges fill in one by
one as each header arrives. Gated repos say so up front, with the way to enter a token. The
hub client is imported on those worker threads, not with the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from converter.hub.repo_kind import GgufChoice, RepoKind
from converter.storage import format_bytes
from desktop.services.remote_fit import RemoteFit, remote_fits
from desktop.ui.hub.download_manager import DownloadManager
from desktop.ui.thread_tasks import ThreadTask, call_worker, job_worker

if TYPE_CHECKING:
    from converter.hub.hub_client import RepoDetails
    from desktop.engine.hardware import HardwareInfo

COLUMNS = ("Level", "File", "Size", "Fit on this machine", "")
_LEVEL_COLUMN, _FILE_COLUMN, _FIT_COLUMN, _BUTTON_COLUMN = 0, 1, 3, 4
#: Narrower than this, the table leaves out the file names (a sliver of "tin…guf" says
#: nothing); the level's tooltip names the files.
NARROW_FILES_PX = 600


def _details(repo_id: str) -> RepoDetails:
    from converter.hub.hub_client import repo_details

    return repo_details(repo_id)


#: What the panel says before a repository is chosen: what to do, and what happens next.
EMPTY_TITLE = "Find a model on Hugging Face"
EMPTY_TEXT = (
    'Search on the left by name, for example "gemma 3 gguf" or "qwen2.5 0.5b", and choose '
    "a result. A GGUF repository lists its quantization levels with their size and how each "
    "fits this machine; Download puts the file in your library, ready to chat. A checkpoint "
    "(safetensors) opens in the conversion wizard instead.\n\n"
    "Not sure which model? Smaller models answer faster: on a machine without a GPU, about "
    "1B parameters or less at Q4_K_M is a good start."
)


def _hint(text: str = "", name: str = "hint") -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class RepoPanel(QWidget):
    convert_requested = Signal(str)  # repo id to open in the conversion wizard
    token_requested = Signal(str)  # why a token is needed
    offline = Signal(str)  # the hub could not be reached (message)
    reached = Signal()  # the hub answered

    def __init__(
        self, manager: DownloadManager, dest_dir: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName("Repository")
        self.manager, self.dest_dir = manager, dest_dir
        self.hardware: HardwareInfo | None = None
        self.ctx_tokens, self.kv_type = 4096, "f16"
        self.details: RepoDetails | None = None
        self.fits: dict[str, RemoteFit] = {}
        self._listing: ThreadTask | None = None
        self._fitting: ThreadTask | None = None

        self.title = QLabel(EMPTY_TITLE)
        self.title.setObjectName("repoTitle")
        self.title.setAccessibleName("Repository name")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.facts = _hint(EMPTY_TEXT)
        self.facts.setAccessibleName("Repository facts")
        self.message = _hint(name="warning")
        self.message.setAccessibleName("Repository message")
        self.message.hide()
        self.token_button = QPushButton("Enter token…")
        self.token_button.setAccessibleName("Enter a Hugging Face token")
        self.token_button.clicked.connect(lambda: self.token_requested.emit(self.message.text()))
        self.token_button.hide()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setAccessibleName("GGUF files")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)  # long file names are elided; the tooltip has them whole
        self.table.hide()
        self.table.installEventFilter(self)
        self.convert_text = _hint()
        self.convert_text.hide()
        self.convert_button = QPushButton("Convert…")
        self.convert_button.setAccessibleName("Convert this checkpoint")
        self.convert_button.clicked.connect(self._on_convert_clicked)
        self.convert_button.hide()

        message_row = QHBoxLayout()
        message_row.addWidget(self.message, 1)
        message_row.addWidget(self.token_button, 0, Qt.AlignmentFlag.AlignTop)
        convert_row = QHBoxLayout()
        convert_row.addWidget(self.convert_text, 1)
        convert_row.addWidget(self.convert_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.facts)
        layout.addLayout(message_row)
        layout.addWidget(self.table, 1)
        layout.addLayout(convert_row)
        layout.addStretch(0)
        manager.changed.connect(self._on_download_changed)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and event.type() == QEvent.Type.Resize:
            self.table.setColumnHidden(_FILE_COLUMN, self.table.width() < NARROW_FILES_PX)
        return super().eventFilter(watched, event)

    def set_fit_inputs(self, hardware: HardwareInfo, ctx_tokens: int, kv_type: str) -> None:
        self.hardware, self.ctx_tokens, self.kv_type = hardware, ctx_tokens, kv_type

    # opening a repo ------------------------------------------------------------------------
    def open_repo(self, repo_id: str) -> ThreadTask:
        for worker in (self._listing, self._fitting):
            if worker is not None:
                worker.cancel()
        self.details, self.fits = None, {}
        self.title.setText(repo_id)
        self.facts.setText("Reading the file list…")
        self._say("")
        for widget in (self.table, self.convert_text, self.convert_button):
            widget.hide()
        worker = call_worker(_details, repo_id)
        worker.signals.returned.connect(lambda details: self._on_details(worker, details))
        worker.signals.errored.connect(lambda exc: self._on_failed(worker, exc))
        self._listing = worker
        return worker.start()

    def _on_details(self, worker: ThreadTask, details: RepoDetails) -> None:
        if worker is not self._listing:
            return  # another repo was opened meanwhile
        self.reached.emit()
        self.details = details
        arch = details.model_type or "unknown architecture"
        facts = [
            f"{arch} ({'supported' if details.supported else 'not supported'})",
            f"licence: {details.license or 'not stated'}",
        ]
        if details.gated:
            facts.append("gated")
        self.facts.setText(" · ".join(facts))
        if details.gated:
            self._say(
                f"{details.repo_id} is gated: open https://huggingface.co/{details.repo_id}, "
                "accept its licence, and enter a Hugging Face token before downloading.",
                token=True,
            )
        if details.kind is RepoKind.GGUF:
            self._show_gguf(details)
        elif details.kind is RepoKind.CHECKPOINT:
            self._show_checkpoint(details)
        else:
            self.convert_text.setText(
                "This repo has neither GGUF files nor a safetensors checkpoint, so Quantdesk "
                "cannot use it. Look for a GGUF or safetensors version of the model."
            )
            self.convert_text.show()

    def _on_failed(self, worker: ThreadTask, exc: BaseException) -> None:
        if worker is not self._listing:
            return
        from converter.hub.hub_errors import HubAccessDenied, HubOffline  # loaded by the listing

        self.facts.setText("")
        self._say(str(exc), token=isinstance(exc, HubAccessDenied))
        if isinstance(exc, HubOffline):
            self.offline.emit(str(exc))

    def _say(self, text: str, *, token: bool = False) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self.token_button.setVisible(token)

    # GGUF repos ----------------------------------------------------------------------------
    def _show_gguf(self, details: RepoDetails) -> None:
        self.table.setRowCount(len(details.gguf))
        for row, choice in enumerate(details.gguf):
            shards = f" (+{len(choice.files) - 1} parts)" if len(choice.files) > 1 else ""
            size = format_bytes(choice.size_bytes) if choice.size_bytes is not None else "?"
            cells = (choice.level or "?", f"{choice.name}{shards}", size, "reading header…")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                names = column in (_LEVEL_COLUMN, _FILE_COLUMN)  # the level's too: see below
                item.setToolTip("\n".join(choice.files) if names else "")
                self.table.setItem(row, column, item)
            button = QPushButton("Download")
            button.setAccessibleName(f"Download {choice.level or choice.name}")
            button.clicked.connect(lambda _checked=False, c=choice: self.download(c))
            self.table.setCellWidget(row, _BUTTON_COLUMN, button)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            mode = QHeaderView.ResizeMode
            header.setSectionResizeMode(
                column, mode.Stretch if column == _FILE_COLUMN else mode.ResizeToContents
            )
        self.table.show()
        self._refresh_buttons()
        hardware, ctx, kv = self.hardware, self.ctx_tokens, self.kv_type
        worker = job_worker(
            lambda cancel: remote_fits(
                details.repo_id,
                details.gguf,
                hardware,
                revision=details.revision,
                ctx_tokens=ctx,
                kv_type=kv,
                cancel=cancel,
            )
        )
        worker.signals.yielded.connect(lambda fit: self._on_fit(worker, fit))
        self._fitting = worker
        worker.start()

    def _on_fit(self, worker: ThreadTask, fit: RemoteFit) -> None:
        if worker is not self._fitting or self.details is None:
            return
        self.fits[fit.name] = fit
        row = next(i for i, c in enumerate(self.details.gguf) if c.name == fit.name)
        item = QTableWidgetItem("unknown (header unreadable)" if fit.plan is None else fit.text)
        item.setToolTip(fit.plan.explanation if fit.plan is not None else fit.problem)
        self.table.setItem(row, _FIT_COLUMN, item)

    def download(self, choice: GgufChoice) -> None:
        if self.details is None:
            raise RuntimeError("No repo is open.")
        self.manager.enqueue(self.details.repo_id, choice, self.details.revision, self.dest_dir)

    def _on_download_changed(self, _key: str) -> None:
        self._refresh_buttons()

    def _refresh_buttons(self) -> None:
        if self.details is None or self.table.isHidden():
            return
        for row, choice in enumerate(self.details.gguf):
            button = self.table.cellWidget(row, _BUTTON_COLUMN)
            if not isinstance(button, QPushButton):
                continue
            queued = self.manager.find(self.details.repo_id, choice.name) is not None
            here = (self.dest_dir / Path(choice.name).name).is_file()
            button.setText("Queued" if queued else "In library" if here else "Download")
            button.setEnabled(not queued and not here)

    # checkpoint repos ----------------------------------------------------------------------
    def _show_checkpoint(self, details: RepoDetails) -> None:
        size = format_bytes(details.checkpoint_size)
        if details.supported:
            text = (
                f"A safetensors checkpoint ({size}). Quantdesk can download it, convert it to "
                "GGUF and make the quantization levels you choose."
            )
        else:
            text = (
                f"A safetensors checkpoint ({size}) of a {details.model_type or 'unknown'} "
                "model, which Quantdesk cannot convert yet."
            )
        self.convert_text.setText(text)
        self.convert_button.setEnabled(details.supported)
        self.convert_text.show()
        self.convert_button.show()

    def _on_convert_clicked(self) -> None:
        if self.details is not None:
            self.convert_requested.emit(self.details.repo_id)
