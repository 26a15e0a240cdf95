"""Compare 2–4 levels: one prompt to all, replies side by side, and the whole ladder's chart.

Levels that are predicted to fit in memory together run at the same time, each in its own
worker process and its own thread (the view keeps a thread pool with room for all of them, so
they never queue behind each other or behind other work); otherwise they run one after
another, and the view says so. The ladder chart shows the model the user picked: from the
Library's Compare button, the last model used, or the selector.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QThreadPool, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from converter.progress import Progress
from desktop.engine.hardware import shared_threads
from desktop.services import fit_text
from desktop.services.compare_runner import LevelRun, ReplyPiece, RunEvent, RunStatus
from desktop.ui.compare.column import CompareColumn
from desktop.ui.compare.ladder_panel import LadderPanel
from desktop.ui.compare.status_text import StatusText
from desktop.ui.thread_tasks import ThreadTask, call_worker

if TYPE_CHECKING:
    from desktop.engine.hardware import HardwareInfo
    from desktop.services.library import ModelGroup

PATH_ROLE = Qt.ItemDataRole.UserRole
MAX_LEVELS = 4
DEFAULT_PROMPT = "Explain in two sentences why the sky is blue."


class CompareView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Compare levels")
        self._hardware: HardwareInfo | None = None
        self.context_tokens = 2048
        self.kv_type = "f16"
        self.max_tokens = 256
        self.threads: int | None = None
        self.columns: list[CompareColumn] = []
        self._runs: list[LevelRun] = []
        self._workers: list[ThreadTask] = []
        self._measure_pending: list[str] = []
        #: The model whose ladder to show once the library lists it (the last one used).
        self.preferred_model = ""
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(MAX_LEVELS)
        # The ticked levels' columns are built when they are ticked, not when Run is pressed:
        # building and first painting them is the costliest GUI work of a comparison, and
        # while the levels run, their processes compete with it for the CPU.
        self._columns_timer = QTimer(self)
        self._columns_timer.setSingleShot(True)
        self._columns_timer.setInterval(0)
        self._columns_timer.timeout.connect(self._sync_columns)

        self.levels = QListWidget()
        self.levels.setAccessibleName("Levels to compare")
        self.levels.itemChanged.connect(self._on_levels_changed)
        self.levels.setMaximumHeight(96)
        self.prompt = QPlainTextEdit(DEFAULT_PROMPT)
        self.prompt.setAccessibleName("Prompt for all levels")
        self.prompt.setFixedHeight(56)
        self.run_button = QPushButton("Run")
        self.run_button.setAccessibleName("Run comparison")
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop comparison")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.mode = StatusText("Tick 2 to 4 levels, type a prompt and press Run.", lines=3)
        self.mode.setObjectName("hint")
        self.mode.setAccessibleName("Comparison mode")

        chooser = QVBoxLayout()
        chooser.addWidget(QLabel("Levels"))
        chooser.addWidget(self.levels, 1)
        prompt_box = QVBoxLayout()
        prompt_box.addWidget(QLabel("Prompt"))
        prompt_box.addWidget(self.prompt)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.mode, 1)
        prompt_box.addLayout(buttons)
        prompt_box.addStretch(1)
        top = QHBoxLayout()
        top.addLayout(chooser, 1)
        top.addLayout(prompt_box, 3)

        self.columns_area = QSplitter(Qt.Orientation.Horizontal)
        self.columns_area.setChildrenCollapsible(False)
        self.ladder = LadderPanel()
        self.ladder.points_changed.connect(self._on_ladder_points_changed)
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(self.columns_area)
        body.addWidget(self.ladder)
        body.setStretchFactor(0, 1)
        body.setStretchFactor(1, 1)
        body.setSizes([400, 400])  # halves: the chart's size hint would take most of it
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(body, 1)

    @property
    def hardware(self) -> HardwareInfo | None:
        return self._hardware

    @hardware.setter
    def hardware(self, info: HardwareInfo | None) -> None:
        """The machine's facts; the ladder's fit verdicts (and recommendation) follow them."""
        self._hardware = info
        if self.ladder.groups:
            self.ladder.set_groups(self.ladder.groups, info)

    # choosing ------------------------------------------------------------------------------
    def set_models(self, groups: list[ModelGroup]) -> None:
        chosen = set(self.chosen_paths())
        self.levels.blockSignals(True)
        self.levels.clear()
        for group in groups:
            for facts in group.files:
                if facts.error:
                    continue
                item = QListWidgetItem(f"{group.base_model} · {facts.level_label}")
                item.setData(PATH_ROLE, str(facts.path))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                checked = str(facts.path) in chosen
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                self.levels.addItem(item)
        self.levels.blockSignals(False)
        first_listing = not self.ladder.groups
        self.ladder.set_groups(groups, self.hardware)
        if first_listing and self.preferred_model:
            self.ladder.show_model_of(self.preferred_model)
        self._on_levels_changed()
        self._start_pending_measurement(groups)

    def measure_when_listed(self, paths: list[str]) -> None:
        """Tick ``paths`` and measure their model's ladder once the library lists them."""
        self._measure_pending = list(paths)
        self._start_pending_measurement(self.ladder.groups)

    def _start_pending_measurement(self, groups: list[ModelGroup]) -> None:
        wanted = set(self._measure_pending)
        for index, group in enumerate(groups):
            if wanted and wanted <= {str(f.path) for f in group.files}:
                self._measure_pending = []
                self.choose(sorted(wanted))
                self.ladder.model.setCurrentIndex(index)
                self.ladder.measure()
                return

    def choose(self, paths: list[str]) -> None:
        """Tick ``paths`` and show their model's ladder."""
        wanted = set(paths[:MAX_LEVELS])
        if paths:
            self.ladder.show_model_of(paths[0])
        for row in range(self.levels.count()):
            item = self.levels.item(row)
            state = (
                Qt.CheckState.Checked if item.data(PATH_ROLE) in wanted else Qt.CheckState.Unchecked
            )
            item.setCheckState(state)

    def chosen_paths(self) -> list[str]:
        items = (self.levels.item(row) for row in range(self.levels.count()))
        return [i.data(PATH_ROLE) for i in items if i.checkState() == Qt.CheckState.Checked]

    def _on_levels_changed(self, *_args: object) -> None:
        self._columns_timer.start()  # once, after a run of tick changes
        count = len(self.chosen_paths())
        self.run_button.setEnabled(2 <= count <= MAX_LEVELS and not self.running)
        if not self.running:
            self.mode.setText(
                f"{count} level(s) ticked; choose 2 to {MAX_LEVELS}."
                if not 2 <= count <= 4
                else "Ready: press Run to send the prompt to every ticked level."
            )

    # running -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return any(not w.done for w in self._workers)

    def _sync_columns(self) -> None:
        """One column per ticked level, in the list's order; a level still ticked keeps its
        column (and the reply shown in it)."""
        wanted = self.chosen_paths()[:MAX_LEVELS]
        if self.running or wanted == [str(c.path) for c in self.columns]:
            return
        kept = {str(c.path): c for c in self.columns}
        columns = []
        for path in wanted:
            column = kept.pop(path, None)
            if column is None:
                column = CompareColumn(Path(path), self.ladder.level_of(Path(path)))
                column.set_quality(self.ladder.quality_text(Path(path)))
            columns.append(column)
        for column in kept.values():
            column.setParent(None)
            column.deleteLater()
        for index, column in enumerate(columns):
            self.columns_area.insertWidget(index, column)
        self.columns = columns

    def run(self) -> None:
        """Decide (off the GUI thread) whether the levels fit together, then start them.

        The mode line changes once, when the levels start: a change of its text lays out the
        whole view again, which is worth doing once, not twice in a tenth of a second."""
        paths = [Path(p) for p in self.chosen_paths()]
        if not 2 <= len(paths) <= MAX_LEVELS or self.running:
            return
        self.run_button.setEnabled(False)
        check = call_worker(_fit_together, paths, self.hardware, self.context_tokens, self.kv_type)
        check.on_returned(lambda together: self._start(paths, together))
        check.signals.errored.connect(lambda _exc: self._start(paths, False))
        check.start()

    def _start(self, paths: list[Path], together: bool) -> None:
        from desktop.engine.worker import LoadSettings, SamplingSettings  # not at start-up

        self._sync_columns()  # built already, unless the ticks changed a moment ago
        self._runs, self._workers = [], []
        # Levels answering together share the cores rather than each taking all of them.
        threads = self.threads or (shared_threads(len(paths)) if together else None)
        load = LoadSettings(ctx_tokens=self.context_tokens, kv_type=self.kv_type, threads=threads)
        sampling = SamplingSettings.greedy(max_tokens=self.max_tokens)
        prompt = self.prompt.toPlainText().strip() or DEFAULT_PROMPT
        self.mode.setText(
            "All levels fit in memory together, so they run at the same time, each in its own "
            "process; they share this machine's cores, so each answers slower than it would alone."
            if together
            else "These levels do not fit in memory together (or the fit is unknown), so they run "
            "one after another: each is loaded, answers, and is closed before the next."
        )
        previous: threading.Event | None = None
        for path, column in zip(paths, self.columns, strict=True):
            column.reset()
            run = LevelRun(path, prompt, load, sampling, after=None if together else previous)
            previous = run.done
            worker = ThreadTask(run)
            worker.signals.yielded.connect(lambda event, c=column: self._on_event(c, event))
            worker.signals.errored.connect(column.fail)
            worker.signals.finished.connect(self._on_worker_finished)
            self._runs.append(run)
            self._workers.append(worker)
        for worker in self._workers:
            worker.start(self._pool)
        self.stop_button.setEnabled(True)

    def _on_event(self, column: CompareColumn, event: RunEvent) -> None:
        if isinstance(event, ReplyPiece):
            column.append(event.text)
        elif isinstance(event, RunStatus):
            column.set_status(event.text)
        elif isinstance(event, Progress):
            column.set_status(f"loading {event.fraction or 0:.0%}")
        else:
            column.finish(event)

    def _on_worker_finished(self) -> None:
        if not self.running:
            self.stop_button.setEnabled(False)
            count = len(self.chosen_paths())
            self.run_button.setEnabled(2 <= count <= MAX_LEVELS)
            self._columns_timer.start()  # levels ticked or unticked while it ran

    def _on_ladder_points_changed(self) -> None:
        for column in self.columns:
            column.set_quality(self.ladder.quality_text(column.path))

    def stop(self) -> None:
        for run in self._runs:
            run.stop()

    def close_workers(self) -> None:
        """Stop every level (app shutdown); their workers end their processes."""
        self.stop()
        self.ladder.cancel()


def _fit_together(
    paths: list[Path], hardware: HardwareInfo | None, ctx_tokens: int, kv_type: str
) -> bool:
    """Worker: whether the levels fit together; also imports the worker package here, so its
    first import (a noticeable pause on a busy 2-core machine) never runs on the GUI thread."""
    import desktop.engine.worker  # noqa: F401

    return fit_text.fit_together(paths, hardware, ctx_tokens, kv_type)
