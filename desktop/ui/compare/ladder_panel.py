"""The whole ladder of one model: the chart, and a button that measures speed and quality.

Measuring runs :func:`compare_files` (each file in its own child process) in a worker
thread; results are saved beside the files, so the chart and the library show them again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services.ladder_data import LadderPoint, ladder_points, reference_of
from desktop.ui.compare.ladder_chart import LadderChart
from desktop.ui.thread_tasks import ThreadTask, call_worker, job_worker


class LadderPanel(QWidget):
    measured = Signal()
    points_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.groups: list[Any] = []
        self.hardware: Any = None
        self.ctx_tokens, self.kv_type = 4096, "f16"
        #: compare_files options; tests shrink them to keep tiny models fast.
        self.measure_options: dict[str, Any] = {"ctx_tokens": 512, "max_chunks": 4}
        self.points: dict[Path, LadderPoint] = {}
        self._measure: ThreadTask | None = None

        self.model = QComboBox()
        self.model.setAccessibleName("Model for the ladder chart")
        self.model.currentIndexChanged.connect(self.reload)
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
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setAccessibleName("Ladder status")
        self.status.setWordWrap(True)
        self.chart = LadderChart()

        row = QHBoxLayout()
        row.addWidget(QLabel("Ladder of"))
        row.addWidget(self.model, 1)
        row.addWidget(self.measure_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.chart, 1)

    def set_groups(self, groups: list[Any], hardware: Any) -> None:
        self.groups, self.hardware = groups, hardware
        current = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems([g.base_model for g in groups])
        if current:
            self.model.setCurrentText(current)
        self.model.blockSignals(False)
        self.reload()

    def _group(self) -> Any:
        index = self.model.currentIndex()
        return self.groups[index] if 0 <= index < len(self.groups) else None

    def level_of(self, path: Path) -> str:
        for group in self.groups:
            for facts in group.files:
                if facts.path == path:
                    return facts.level
        return path.stem

    def quality_text(self, path: Path) -> str:
        point = self.points.get(path)
        return point.quality_text if point is not None else "not measured"

    def reload(self) -> ThreadTask | None:
        group = self._group()
        if group is None:
            self.chart.set_points([])
            return None
        worker = call_worker(
            ladder_points, list(group.files), self.hardware, self.ctx_tokens, self.kv_type
        )
        worker.signals.returned.connect(self._on_points)
        return worker.start()

    def _on_points(self, points: list[LadderPoint]) -> None:
        self.points.update({p.path: p for p in points})
        self.chart.set_points(points)
        self.points_changed.emit()
        best = self.chart.best
        if best is not None and not self._measuring:
            self.status.setText(f"Best level for this machine: {best.level} ({best.fit_text}).")

    @property
    def _measuring(self) -> bool:
        return self._measure is not None and not self._measure.done

    def measure(self) -> ThreadTask | None:
        group = self._group()
        if group is None or self._measuring:
            return None
        reference = reference_of(list(group.files))
        if reference is None:
            self.status.setText(
                "Quality is measured against the full-precision file (F16, BF16 or F32) of "
                "this model, and the library has none. Convert the checkpoint again, keeping "
                "the full-precision file, then measure."
            )
            return None
        candidates = [f.path for f in group.files if not f.error and f.path != reference]
        options = dict(self.measure_options)

        def make_job(cancel: Any) -> Any:
            from desktop.engine.measure.level_comparison import compare_files

            return compare_files(reference, candidates, cancel=cancel, **options)

        worker = job_worker(make_job)
        worker.signals.yielded.connect(self._on_progress)
        worker.signals.returned.connect(self._on_measured)
        worker.signals.errored.connect(lambda exc: self.status.setText(f"Measuring stopped: {exc}"))
        worker.signals.finished.connect(self._on_measure_finished)
        self._measure = worker
        self.measure_button.setEnabled(False)
        self.cancel_button.show()
        self.progress.show()
        self.progress.setRange(0, 0)
        self.status.setText(f"Measuring {len(candidates) + 1} files against {reference.name}…")
        return worker.start()

    def _on_progress(self, progress: Any) -> None:
        fraction = progress.fraction
        if fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(fraction * 100))
        self.status.setText(f"{progress.stage}: {progress.message}".rstrip(": "))

    def _on_measured(self, _rows: list[Any]) -> None:
        self.status.setText("Measured. The figures are saved beside each file.")
        self.measured.emit()

    def _on_measure_finished(self) -> None:
        self.measure_button.setEnabled(True)
        self.cancel_button.hide()
        self.progress.hide()
        self.reload()

    def cancel(self) -> None:
        if self._measure is not None:
            self._measure.cancel()
