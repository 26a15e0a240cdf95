"""The whole ladder of one model: the chart, and a button that measures speed and quality.

Measuring runs :func:`desktop.services.ladder_data.measure_ladder` (each file in its own child
process) in a worker thread. Each level's point reaches the chart as soon as that level is
measured; the progress line names the level and the stage and says how long is left; Cancel
stops the running child at once. Results are saved beside the files, so the chart and the
library show them again. Before anything starts, the status line says how long it will take.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from converter.errors import Cancelled, QuantdeskError
from converter.progress import CancelToken, Progress, run_job
from desktop.engine.measure.measure_options import MeasureOptions
from desktop.services.ladder_data import (
    RECOMMENDATION_RULE,
    LadderPoint,
    MeasurePreview,
    MeasureRequest,
    ladder_points,
    measure_ladder,
    measure_preview,
    reference_of,
)
from desktop.ui.compare.ladder_chart import LadderChart
from desktop.ui.thread_tasks import Emit, ThreadTask, call_worker
from desktop.ui.wrapped_label import WrappedLabel

if TYPE_CHECKING:  # the library module (numpy, gguf) loads with the first scan, not the window
    from desktop.engine.hardware import HardwareInfo
    from desktop.services.library import ModelGroup

BUNDLED_TEXT_WORDS = "the bundled text"


class LadderPanel(QWidget):
    measured = Signal()
    points_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.groups: list[ModelGroup] = []
        self.hardware: HardwareInfo | None = None
        self.ctx_tokens, self.kv_type = 4096, "f16"
        #: How levels are measured; tests shrink it to keep tiny models fast.
        self.measure_options = MeasureOptions()
        self.text_path: Path | None = None  # the user's own text, or None for the bundled one
        self.points: dict[Path, LadderPoint] = {}
        self._measure: ThreadTask | None = None
        # The points the running measurement has delivered: a reload while it runs (a library
        # scan, the hardware probe) reads the saved figures, which may lag behind them.
        self._measured_now: dict[Path, LadderPoint] = {}
        self._reload_serial = 0
        self._outcome = ""  # the last measurement's outcome, shown after the redraw
        self._preview: MeasurePreview | None = None  # what Measure would do, once known

        self.model = QComboBox()
        self.model.setAccessibleName("Model for the ladder chart")
        self.model.currentIndexChanged.connect(self._on_model_changed)
        self.text_button = QPushButton("Text…")
        self.text_button.setAccessibleName("Measure on my own text")
        self.text_button.setToolTip(
            "Measure quality on your own UTF-8 text file instead of the bundled English prose."
        )
        self.text_button.clicked.connect(self._on_text_clicked)
        self.measure_button = QPushButton("Measure speed and quality")
        self.measure_button.setAccessibleName("Measure speed and quality")
        self.measure_button.clicked.connect(self.measure)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel measuring")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Measuring progress")
        self.progress.hide()
        self.status = WrappedLabel("")
        self.status.setObjectName("hint")
        self.status.setAccessibleName("Ladder status")
        self.rule = WrappedLabel(RECOMMENDATION_RULE)
        self.rule.setObjectName("hint")
        self.rule.setAccessibleName("Recommendation rule")
        self.chart = LadderChart()

        row = QHBoxLayout()
        row.addWidget(QLabel("Ladder of"))
        row.addWidget(self.model, 1)
        row.addWidget(self.text_button)
        row.addWidget(self.measure_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.rule)

    # which model ---------------------------------------------------------------------------
    def set_groups(self, groups: list[ModelGroup], hardware: HardwareInfo | None) -> None:
        self.groups, self.hardware = groups, hardware
        current = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems([g.base_model for g in groups])
        if current:
            self.model.setCurrentText(current)
        self.model.blockSignals(False)
        self.reload()

    def show_model_of(self, path: str | Path) -> bool:
        """Switch the ladder to the model that ``path`` is a level of; False if none is."""
        for index, group in enumerate(self.groups):
            if any(str(f.path) == str(path) for f in group.files):
                if index != self.model.currentIndex():
                    self.model.setCurrentIndex(index)  # redraws through _on_model_changed
                return True
        return False

    def _on_model_changed(self, _index: int) -> None:
        self.points = {}
        self.chart.set_points([])  # at once: never the previous model's points under this name
        self.reload()

    def _group(self) -> ModelGroup | None:
        index = self.model.currentIndex()
        return self.groups[index] if 0 <= index < len(self.groups) else None

    def level_of(self, path: Path) -> str:
        for group in self.groups:
            for facts in group.files:
                if facts.path == path:
                    return facts.level_label
        return path.stem

    def quality_text(self, path: Path) -> str:
        point = self.points.get(path)
        return point.quality_text if point is not None else "not measured"

    def _request(self, group: ModelGroup) -> MeasureRequest:
        return MeasureRequest(
            files=tuple(group.files),
            hardware=self.hardware,
            ctx_tokens=self.ctx_tokens,
            kv_type=self.kv_type,
            text_path=self.text_path,
            options=self.measure_options,
        )

    def reload(self) -> ThreadTask | None:
        """Read the current model's points (and the time a measurement would take) off the
        GUI thread; an answer for a model no longer shown is dropped."""
        group = self._group()
        self.rule.setVisible(group is not None)  # the rule means nothing without levels
        if group is None:
            self.chart.set_points([])
            return None
        self._reload_serial += 1
        worker = call_worker(_points_and_preview, self._request(group), self._reload_serial)
        worker.signals.returned.connect(self._on_points)
        return worker.start()

    def _on_points(self, answer: tuple[int, list[LadderPoint], MeasurePreview]) -> None:
        serial, points, preview = answer
        if serial != self._reload_serial:
            return
        self._preview = preview
        if self._measuring:  # a level's quality may be saved and its speed not yet
            points = [self._measured_now.get(p.path, p) for p in points]
        self.points = {p.path: p for p in points}
        self.chart.set_points(points)
        self.points_changed.emit()
        if self._measuring:
            return
        if self._outcome:  # what the last measurement ended with, then the recommendation
            self.status.setText(self._outcome)
            self._outcome = ""
        else:
            self.status.setText(" ".join(filter(None, (self._best_words(), preview.text))))

    def _best_words(self) -> str:
        best = self.chart.best
        if best is None:
            return "No recommendation yet: measure the levels first."
        return f"Recommended for this machine: {best.level} ({best.fit_text})."

    # measuring -----------------------------------------------------------------------------
    @property
    def _measuring(self) -> bool:
        return self._measure is not None and not self._measure.done

    def _on_text_clicked(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Measure on my own text", "", "Text files (*.txt *.md);;All files (*)"
        )
        self.set_text_path(Path(name) if name else None)

    def set_text_path(self, path: Path | None) -> None:
        """Measure on ``path`` (a UTF-8 text) from now on; None goes back to the bundled text."""
        self.text_path = path
        words = BUNDLED_TEXT_WORDS if path is None else path.name
        self.text_button.setText("Text…" if path is None else f"Text: {path.name}")
        self.text_button.setToolTip(f"Quality is measured on {words}. Click to choose another.")
        self.reload()

    def measure(self) -> ThreadTask | None:
        group = self._group()
        if group is None or self._measuring:
            return None
        if reference_of(group.files) is None:
            self.status.setText(
                "Quality is measured against the full-precision file (F16, BF16 or F32) of "
                "this model, and the library has none. Convert the checkpoint again, keeping "
                "the full-precision file, then measure."
            )
            return None
        request = self._request(group)
        token = CancelToken()

        def work(emit: Emit) -> int:
            return run_job(measure_ladder(request, token, emit), emit)

        worker = ThreadTask(work, cancel=token)
        self._measured_now = {}
        worker.signals.yielded.connect(self._on_measure_event)
        worker.signals.returned.connect(self._on_measured)
        worker.signals.errored.connect(self._on_measure_failed)
        worker.signals.finished.connect(self._on_measure_finished)
        self._measure = worker
        self.measure_button.setEnabled(False)
        self.text_button.setEnabled(False)
        self.cancel_button.show()
        self.progress.show()
        self.progress.setRange(0, 0)
        count = 0 if self._preview is None else self._preview.levels_to_measure
        words = f": {count} level{'' if count == 1 else 's'} to measure" if count else ""
        self.status.setText(f"Starting{words}…")
        return worker.start()

    def _on_measure_event(self, event: Progress | LadderPoint) -> None:
        if isinstance(event, LadderPoint):
            self.points[event.path] = self._measured_now[event.path] = event
            self.chart.set_points(list(self.points.values()))
            self.points_changed.emit()
            return
        fraction = event.fraction
        if fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(fraction * 100))
        self.status.setText(f"Measuring {event.stage} ({event.message})")

    def _on_measured(self, _levels: int) -> None:
        self.status.setText(
            f"Measured. {self._best_words()} The figures are saved beside each file."
        )
        self.measured.emit()

    def _on_measure_failed(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.status.setText("Measuring cancelled; the levels already measured are kept.")
        else:
            self.status.setText(f"Measuring stopped: {exc}")

    def _on_measure_finished(self) -> None:
        self.measure_button.setEnabled(True)
        self.text_button.setEnabled(True)
        self.cancel_button.hide()
        self.progress.hide()
        self._outcome = self.status.text()
        self.reload()

    def cancel(self) -> None:
        if self._measure is not None:
            self._measure.cancel()


def _points_and_preview(
    request: MeasureRequest, serial: int
) -> tuple[int, list[LadderPoint], MeasurePreview]:
    """Worker: the model's saved figures, what measuring it would do and how long it takes."""
    points = ladder_points(request.files, request.hardware, request.ctx_tokens, request.kv_type)
    try:
        preview = measure_preview(request)
    except (QuantdeskError, ValueError) as exc:  # an unreadable text or file: keep the points
        preview = MeasurePreview(0, f"Cannot measure yet: {exc}")
    return serial, points, preview
