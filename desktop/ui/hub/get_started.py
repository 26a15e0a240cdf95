"""The 'Get started' card: one click to a first model.

It suggests a small instruct GGUF sized to this machine's real capacity (cores, a quick memory
bandwidth measurement in a worker thread, RAM and VRAM: :func:`suggest_for`), with the speed to
expect, downloads it through the app's download manager into the library, and then offers to
open a chat with it. It says what the library really holds: the full card while the library is
empty; once models exist only the rows of its own downloads (running, paused or failed, or
finished and not yet chatted with), without the explanations.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from converter.errors import QuantdeskError
from converter.hub.recommend import (
    MachineCapacity,
    Recommendation,
    Suggestion,
    load_speed_rules,
    suggest_for,
)
from converter.hub.repo_kind import GgufChoice
from converter.hub.transfer import DownloadProgress
from converter.storage import format_bytes
from desktop.services.download_queue import DownloadState
from desktop.ui.hub.download_manager import DownloadManager
from desktop.ui.hub.downloads import progress_words
from desktop.ui.thread_tasks import call_worker

if TYPE_CHECKING:  # the hardware probe is imported when it runs, not with the window
    from desktop.engine.hardware import HardwareInfo


def _vram_bytes(hardware: HardwareInfo) -> int:
    return sum(g.total_bytes for g in hardware.usable_gpus)


class SuggestionRow(QFrame):
    """One recommended model: what it is, how big, and its Download / Chat now button."""

    chat_requested = Signal(str)

    def __init__(self, suggestion: Suggestion, manager: DownloadManager, dest_dir: Path) -> None:
        super().__init__()
        self.setObjectName("suggestion")
        model = suggestion.model
        self.model, self.manager, self.dest_dir = model, manager, dest_dir
        self.name = name = QLabel()
        name.setAccessibleName("Suggested model")
        self.show_speed(suggestion)
        self.blurb = blurb = QLabel(f"{model.blurb} Licence: {model.licence}.")
        blurb.setObjectName("hint")
        blurb.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Download progress")
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.hide()
        self.detail = QLabel()
        self.detail.setObjectName("hint")
        self.detail.setWordWrap(True)
        self.detail.hide()
        self.button = QPushButton()
        self.button.setAccessibleName(f"Get {model.title}")
        self.button.clicked.connect(self._on_clicked)
        text = QVBoxLayout()
        text.addWidget(name)
        text.addWidget(blurb)
        text.addWidget(self.bar)
        text.addWidget(self.detail)
        layout = QHBoxLayout(self)
        layout.addLayout(text, 1)
        layout.addWidget(self.button)
        manager.changed.connect(self._on_changed)  # a bound slot: dropped with the row
        manager.progressed.connect(self._on_progressed)
        self.refresh()

    def show_speed(self, suggestion: Suggestion) -> None:
        model = suggestion.model
        where = "on the GPU" if suggestion.on_gpu else "on this CPU"
        self.name.setText(
            f"<b>{model.title}</b> · {model.level} · {format_bytes(model.size_bytes)} · "
            f"about {suggestion.tokens_per_second:.0f} tokens/s {where}"
        )

    @property
    def path(self) -> Path:
        return self.dest_dir / self.model.filename

    @property
    def key(self) -> str:
        return f"{self.model.repo_id}/{self.model.filename}"

    def refresh(self) -> None:
        entry = self.manager.find(self.model.repo_id, self.model.filename)
        if entry is None:
            ready = self.path.is_file()
            self.button.setText(
                "Chat now" if ready else f"Download ({format_bytes(self.model.size_bytes)})"
            )
            self.button.setEnabled(True)
            self.bar.setVisible(False)
            self.detail.setVisible(False)
            return
        running = entry.state in (DownloadState.QUEUED, DownloadState.RUNNING)
        self.button.setText("Pause" if running else "Resume")
        self.bar.show()
        self.detail.setText(entry.message if entry.message and not running else "Downloading…")
        self.detail.show()

    def _on_changed(self, key: str) -> None:
        if key == self.key:
            self.refresh()

    def _on_progressed(self, key: str, event: DownloadProgress) -> None:
        if key == self.key and event.total:
            self.bar.setValue(int(1000 * event.done / event.total))
            self.detail.setText(progress_words(event))

    def _on_clicked(self) -> None:
        entry = self.manager.find(self.model.repo_id, self.model.filename)
        if entry is None and self.path.is_file():
            self.chat_requested.emit(str(self.path))
        elif entry is None:
            choice = GgufChoice(self.model.level, (self.model.filename,), self.model.size_bytes)
            self.manager.enqueue(self.model.repo_id, choice, "main", self.dest_dir)
        elif entry.state in (DownloadState.QUEUED, DownloadState.RUNNING):
            self.manager.pause(entry.key)
        else:
            self.manager.resume(entry.key)


class GetStartedCard(QFrame):
    """Shown while the library is empty, and after its download until the user starts a chat."""

    chat_requested = Signal(str)

    def __init__(
        self,
        manager: DownloadManager,
        dest_dir: Path,
        models: tuple[Recommendation, ...] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("getStarted")
        self.setAccessibleName("Get started")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.manager, self.dest_dir, self.models = manager, dest_dir, models
        self.hardware: HardwareInfo | None = None
        self.bandwidth_bytes_per_second: float | None = None  # measured once, off the GUI thread
        self.rows: list[SuggestionRow] = []
        self._comfortable = True  # the first suggestion reaches the minimum speed
        self._library_empty: bool | None = None  # None: not scanned yet
        self._fetched = False  # one of its suggestions was downloaded: offer "Chat now"
        self._dismissed = False  # the user started a chat from it
        self.title = title = QLabel("<b>Get started</b>")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        title.setFont(font)
        self.intro = QLabel("Checking this machine to suggest a first model…")
        self.intro.setWordWrap(True)
        self.intro.setAccessibleName("Get started explanation")
        self._layout = QVBoxLayout(self)
        self._layout.addWidget(title)
        self._layout.addWidget(self.intro)
        self.chat_requested.connect(self._on_chat_requested)
        manager.completed.connect(self._on_download_completed)
        self.hide()

    def set_library_empty(self, empty: bool) -> None:
        self._library_empty = empty
        self._update_visibility()

    def set_hardware(self, hardware: HardwareInfo) -> None:
        """Suggest for ``hardware`` once the memory bandwidth is measured (in a worker)."""
        self.hardware = hardware
        if self.bandwidth_bytes_per_second is not None:
            self._suggest()
            return
        from desktop.engine.hardware import measure_memory_bandwidth

        worker = call_worker(measure_memory_bandwidth)
        worker.signals.returned.connect(self._on_bandwidth)
        worker.signals.errored.connect(lambda _exc: self._on_bandwidth(0.0))  # speed from cores
        worker.start()

    def _on_bandwidth(self, bytes_per_second: float) -> None:
        self.bandwidth_bytes_per_second = bytes_per_second
        self._suggest()

    def capacity(self) -> MachineCapacity:
        hardware = self.hardware
        if hardware is None:
            raise RuntimeError("The capacity is known once the hardware probe has finished.")
        return MachineCapacity(
            ram_bytes=hardware.ram_total_bytes,
            vram_bytes=_vram_bytes(hardware),
            cpu_cores=hardware.cpu.physical_cores,
            memory_bandwidth_bytes_per_second=self.bandwidth_bytes_per_second or 0.0,
        )

    def set_models(self, models: tuple[Recommendation, ...] | None) -> None:
        """Suggest from ``models`` instead of the shipped list (``None``: the shipped list)."""
        self.models = models
        self._suggest()

    def _suggest(self) -> None:
        if self.hardware is None:
            return
        try:
            picked = suggest_for(self.capacity(), self.models)
        except QuantdeskError as exc:
            self.intro.setText(str(exc))
            return
        minimum = load_speed_rules().min_tokens_per_second
        self._comfortable = bool(picked) and picked[0].tokens_per_second >= minimum
        if [s.model for s in picked] == [row.model for row in self.rows]:
            for row, suggestion in zip(self.rows, picked, strict=True):
                row.show_speed(suggestion)  # the same models, a better speed estimate
            self._update_visibility()
            return
        for row in self.rows:
            row.deleteLater()
        self.rows = []
        for suggestion in picked:
            row = SuggestionRow(suggestion, self.manager, self.dest_dir)
            row.chat_requested.connect(self.chat_requested)
            self.rows.append(row)
            self._layout.addWidget(row)
        self._update_visibility()

    def _intro_text(self) -> str:
        if self.hardware is None:
            return "Checking this machine to suggest a first model…"
        capacity = self.capacity()
        gpu = (
            f" and {format_bytes(capacity.vram_bytes)} of GPU memory"
            if capacity.vram_bytes
            else ", no GPU llama.cpp can use"
        )
        which = "the first model below" if len(self.rows) > 1 else "the model below"
        machine = f"This machine ({capacity.cpu_cores} cores, {format_bytes(capacity.ram_bytes)}"
        others = "You can also search the Hub tab, import a GGUF, or convert a checkpoint."
        if not self._comfortable:
            return (
                f"Your library is empty. {machine} of memory{gpu}) is busy or small: even the "
                f"fastest suggestion, below, would answer slowly. {others}"
            )
        return (
            f"Your library is empty. {machine} of memory{gpu}) runs {which} at a comfortable "
            f"speed: download it and start chatting. {others}"
        )

    def _on_download_completed(self, key: str, _path: object) -> None:
        if any(row.key == key for row in self.rows):
            self._fetched = True
            self._update_visibility()

    def _on_chat_requested(self, _path: str) -> None:
        self._dismissed = True
        self._update_visibility()

    def _update_visibility(self) -> None:
        """Full card for an empty library; otherwise only rows of its own downloads, compact."""
        empty = self._library_empty is True
        self.title.setVisible(empty)
        self.intro.setVisible(empty)
        if empty:
            self.intro.setText(self._intro_text())
        shown = 0
        for row in self.rows:
            active = self.manager.find(row.model.repo_id, row.model.filename) is not None
            visible = empty or active or (self._fetched and row.path.is_file())
            row.setVisible(visible)
            row.blurb.setVisible(empty)
            shown += visible
        self.setVisible(not self._dismissed and (empty or shown > 0))
