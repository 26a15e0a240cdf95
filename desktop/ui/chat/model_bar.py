"""Pick a model file and load it: progress, the fit decision, and a refusal when it won't fit.

Before loading, the memory-fit planner runs in a worker thread; a model predicted not to fit
is loaded only if the user insists (llama.cpp would otherwise swap or be killed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services import fit_text
from desktop.ui.chat.model_picker import ModelBadges, ModelPicker
from desktop.ui.icons import set_icon
from desktop.ui.thread_tasks import call_worker

if TYPE_CHECKING:  # the engine is imported when it is first used, not with the window
    from desktop.engine.fit_planner import FitPlan
    from desktop.engine.hardware import HardwareInfo
    from desktop.engine.worker.results import LoadInfo
    from desktop.services.model_load_defaults import ModelDefaultsStore


class ModelBar(QWidget):
    load_requested = Signal(str)  # path, after the fit check passed or the user insisted
    eject_requested = Signal()
    load_options_requested = Signal()  # "Load with settings…": this model's own load settings

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hardware: HardwareInfo | None = None
        self.context_tokens = 4096
        self.kv_type = "f16"
        self.text_completion = False
        self.combo = ModelPicker()
        self.combo.setAccessibleName("Model")
        self.combo.setMinimumContentsLength(10)  # room for the settings panel at 1024
        self.load_button = QPushButton("Load")
        self.load_button.setAccessibleName("Load model")
        self.load_button.setToolTip("Load the chosen model (its fit is checked first)")
        set_icon(self.load_button, "player-play")
        self.combo.setToolTip("The GGUF files of the library that can be loaded")
        self.load_button.clicked.connect(self._on_load_clicked)
        self.load_options_button = QPushButton("")
        self.load_options_button.setAccessibleName("Load settings")
        self.load_options_button.setToolTip(
            "Load with settings of its own: context length, KV cache, GPU layers and threads, "
            "remembered for this model file"
        )
        set_icon(self.load_options_button, "settings")
        self.load_options_button.clicked.connect(self.load_options_requested.emit)
        #: Load settings remembered per model file (set by the chat view).
        self.load_defaults: ModelDefaultsStore | None = None
        self.eject_button = QPushButton("Eject")
        self.eject_button.setAccessibleName("Eject model")
        self.eject_button.setToolTip("Unload the model and free its memory (Ctrl+E)")
        set_icon(self.eject_button, "player-eject")
        self.eject_button.clicked.connect(self.eject_requested.emit)
        self.eject_button.hide()
        #: Shows and hides the chat's settings panel (the chat view keeps it in step).
        self.settings_button = QPushButton("")  # an icon: the bar must fit a small window
        self.settings_button.setAccessibleName("Conversation settings")
        self.settings_button.setCheckable(True)
        self.settings_button.setToolTip(
            "Chat settings: show or hide this conversation's settings beside the chat "
            "(system prompt, temperature, top p, reply length…). Ctrl+Shift+S"
        )
        set_icon(self.settings_button, "adjustments-horizontal")
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Load progress")
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.status = QLabel("No model loaded.")
        self.status.setAccessibleName("Model status")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)

        self._row = row = QHBoxLayout()
        row.addWidget(QLabel("Model"))
        row.addWidget(self.combo, 1)
        row.addWidget(self.load_button)
        row.addWidget(self.load_options_button)
        row.addWidget(self.eject_button)
        row.addWidget(self.progress)
        row.addWidget(self.settings_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)

    def add_control(self, widget: QWidget) -> None:
        """A control of the chat's that belongs with the model (the completion-mode switch)."""
        self._row.insertWidget(self._row.count() - 1, widget)

    def set_models(self, paths: list[Path]) -> None:
        """Offer ``paths``; the current choice stays chosen only if it is still among them."""
        current = self.current_path()
        self.combo.clear()
        for path in paths:
            self.combo.addItem(path.name, str(path))
        self.select(current if current in {str(p) for p in paths} else None)
        self.load_button.setEnabled(bool(paths))
        self.load_options_button.setEnabled(bool(paths))

    def set_badges(self, badges: dict[str, ModelBadges]) -> None:
        for path, value in badges.items():
            self.combo.set_badges(path, value)

    def select(self, path: str | None) -> None:
        if path:
            index = self.combo.findData(path)
            if index < 0:
                self.combo.addItem(Path(path).name, path)
                index = self.combo.count() - 1
            self.combo.setCurrentIndex(index)

    def current_path(self) -> str | None:
        return self.combo.currentData()

    def _on_load_clicked(self) -> None:
        path = self.current_path()
        if path:
            self.request_load(path)

    def request_load(self, path: str, *, insist: bool = False) -> None:
        """Check the fit (off the GUI thread), then emit ``load_requested``."""
        if insist or self.hardware is None:
            self.load_requested.emit(path)
            return
        self.status.setText("Checking whether the model fits this machine…")
        self.load_button.setEnabled(False)
        ctx_tokens, kv_type, replies = self._fit_inputs(path)
        worker = call_worker(
            fit_text.plan_for, Path(path), self.hardware, ctx_tokens, kv_type, replies
        )
        worker.on_returned(lambda plan: self._on_planned(path, plan, ctx_tokens))
        worker.signals.errored.connect(lambda exc: self._on_plan_failed(path, exc))
        worker.signals.finished.connect(lambda: self.load_button.setEnabled(True))
        worker.start()

    def _fit_inputs(self, path: str) -> tuple[int, str, int]:
        """The context, KV cache and replies at once the model will be loaded with: its own,
        if remembered (a context for each reply written at once)."""
        own = self.load_defaults.get(path) if self.load_defaults is not None else None
        if own is None:
            return self.context_tokens, self.kv_type, 1
        per_reply = own.ctx_tokens or self.context_tokens  # "as trained": not known yet
        return per_reply * own.parallel, own.kv_type, own.parallel

    def _on_planned(self, path: str, plan: FitPlan, ctx_tokens: int) -> None:
        if plan.verdict == "wont_fit":
            answer = QMessageBox.warning(
                self,
                "The model will not fit",
                f"{Path(path).name} is predicted not to fit this machine at "
                f"{ctx_tokens} tokens of context ({fit_text.describe_plan(plan)}).\n\n"
                "Loading it may make the computer swap or the worker be killed. Choose a "
                "smaller level or a shorter context, or load it anyway.",
                QMessageBox.StandardButton.Ignore | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Ignore:
                self.status.setText("Not loaded: the model is predicted not to fit.")
                return
        self.load_requested.emit(path)

    def _on_plan_failed(self, path: str, exc: BaseException) -> None:
        self.status.setText(f"Could not predict the fit ({exc}); loading anyway.")
        self.load_requested.emit(path)

    # feedback from the session ------------------------------------------------------------
    def show_loading(self, fraction: float | None) -> None:
        self.progress.setVisible(fraction is not None)
        self.load_button.setEnabled(fraction is None)
        if fraction is not None:
            self.eject_button.hide()
            self.progress.setValue(int(fraction * 100))
            self.status.setText(f"Loading {Path(self.current_path() or '').name}…")

    def show_loaded(self, info: LoadInfo) -> None:
        self.show_loading(None)
        self.eject_button.show()
        layers = info.model.n_layers
        where = (
            "on the CPU"
            if info.gpu_layers == 0
            else "fully on the GPU"
            if info.gpu_layers >= layers
            else f"{info.gpu_layers} of {layers} layers on the GPU"
        )
        # The fallback template's note does not apply while the text is continued instead.
        skipped = info.chat_template.note if self.text_completion else None
        notes = "".join(f"\n{note}" for note in info.notes if note != skipped)
        own = self.load_defaults is not None and self.load_defaults.get(info.path) is not None
        remembered = " (this model's own settings)" if own else ""
        parallel = f", {info.parallel} replies at once" if info.parallel > 1 else ""
        self.status.setText(
            f"Loaded {Path(info.path).name} in {info.load_seconds:.1f} s: {where}, "
            f"context {info.ctx_tokens} tokens, KV cache {info.kv_type}{parallel}{remembered}."
            f"{notes}"
        )

    def show_error(self, text: str) -> None:
        self.show_loading(None)
        self.eject_button.hide()
        self.status.setText(text)

    def show_ejected(self, name: str) -> None:
        self.show_loading(None)
        self.eject_button.hide()
        self.status.setText(f"No model loaded: {name} was ejected and its memory is free.")

    def open_picker(self) -> None:
        """Put the focus on the model list and open it (Ctrl+L)."""
        self.combo.setFocus()
        self.combo.showPopup()
