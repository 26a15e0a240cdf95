"""The wizard's last pages: run the conversion with progress and a log, then offer next steps."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from converter.errors import Cancelled
from converter.figures import span_text
from converter.paths import data_dir
from converter.storage import format_bytes
from desktop.services.conversion_choices import ConversionChoices
from desktop.services.conversion_pipeline import PipelineResult, StepProgress
from desktop.ui.thread_tasks import ThreadTask, job_worker


class RunPage(QWizardPage):
    """Runs what ``choices`` holds and writes ``choices.result`` when it is done."""

    def __init__(self, choices: ConversionChoices) -> None:
        super().__init__()
        self.setTitle("Run")
        self.setSubTitle("Converting and quantizing. Cancel keeps only complete files.")
        self._choices = choices
        self.worker: ThreadTask | None = None
        self.log_path: Path | None = None
        self._started = 0.0
        self._fraction = 0.0
        self.overall = QProgressBar()
        self.overall.setAccessibleName("Overall progress")
        self.step_label = QLabel("")
        self.step_label.setAccessibleName("Current step")
        self.step = QProgressBar()
        self.step.setAccessibleName("Step progress")
        self.times = QLabel("")
        self.times.setObjectName("hint")
        self.times.setAccessibleName("Time elapsed and left")
        self.log = QPlainTextEdit()
        self.log.setAccessibleName("Log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.open_log = QPushButton("Open log file")
        self.open_log.setAccessibleName("Open log file")
        self.open_log.clicked.connect(self._on_open_log_clicked)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Overall"))
        layout.addWidget(self.overall)
        layout.addWidget(self.step_label)
        layout.addWidget(self.step)
        layout.addWidget(self.times)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.open_log)
        self._clock = QTimer(self)
        self._clock.setInterval(500)
        self._clock.timeout.connect(self._on_clock)

    @property
    def result(self) -> PipelineResult | None:
        return self._choices.result

    def initializePage(self) -> None:
        choices = replace(self._choices, result=None)  # the run keeps what was chosen at its start
        self._choices.result = None
        assert choices.inspection is not None
        logs = data_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"conversion-{datetime.now():%Y%m%d-%H%M%S}.log"
        self.log.clear()
        self._write_log(
            f"Converting {choices.inspection.source} to {choices.out_dir}; "
            f"levels: {', '.join(choices.levels)}"
        )
        if choices.calibration is not None:
            self._write_log(f"Calibrating with {choices.calibration.describe}")
        self.worker = job_worker(choices.conversion_job)
        self.worker.signals.yielded.connect(self._on_progress)
        self.worker.signals.returned.connect(self._on_done)
        self.worker.signals.errored.connect(self._on_failed)
        self.worker.signals.finished.connect(self._clock.stop)
        self._started = time.monotonic()
        self._fraction = 0.0
        self._clock.start()
        self.worker.start()

    def _write_log(self, line: str) -> None:
        stamped = f"{datetime.now():%H:%M:%S}  {line}"
        self.log.appendPlainText(stamped)
        if self.log_path is not None:
            with self.log_path.open("a", encoding="utf-8") as stream:
                stream.write(stamped + "\n")

    def _on_progress(self, event: StepProgress) -> None:
        progress = event.progress
        self._fraction = event.overall
        self.overall.setValue(int(event.overall * 100))
        self.step_label.setText(f"Step {event.step + 1} of {event.steps}: {event.title}")
        fraction = progress.fraction
        self.step.setValue(int((fraction or 0.0) * 100))
        if progress.message and (fraction is None or progress.done in (0, progress.total)):
            self._write_log(f"{event.title}: {progress.message}")

    def _on_clock(self) -> None:
        elapsed = time.monotonic() - self._started
        left = ""
        if self._fraction > 0.02:
            left = f" · about {span_text(elapsed / self._fraction * (1 - self._fraction))} left"
        self.times.setText(f"Elapsed {span_text(elapsed)}{left}")

    def _on_done(self, result: PipelineResult) -> None:
        self._choices.result = result
        self.overall.setValue(100)
        self.step.setValue(100)
        for written in result.written:
            self._write_log(f"Wrote {written.path.name} ({written.level}).")
        self._write_log(f"Done in {span_text(time.monotonic() - self._started)}.")
        self.completeChanged.emit()
        self.wizard().next()

    def _on_failed(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self._write_log("Cancelled; no partial file was kept.")
        else:
            self._write_log(f"Failed: {exc}")
        self.step_label.setText(str(exc))

    def _on_open_log_clicked(self) -> None:
        if self.log_path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.log_path)))

    def cancel(self) -> None:
        if self.worker is not None and not self.worker.done:
            self.worker.cancel()

    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.done

    @property
    def stopping(self) -> bool:
        """Cancel was asked for; the conversion ends at its next check."""
        return self.running and self.worker is not None and self.worker.cancel_token.cancelled

    def isComplete(self) -> bool:
        return self.result is not None


class DonePage(QWizardPage):
    """Lists ``choices.result``'s files and offers the next steps."""

    def __init__(self, choices: ConversionChoices) -> None:
        super().__init__()
        self._choices = choices
        self.setTitle("Done")
        self.setSubTitle("The new files are in the library.")
        self.files = QListWidget()
        self.files.setAccessibleName("New files")
        self.measure_button = QPushButton("Measure speed and quality now")
        self.measure_button.setAccessibleName("Measure speed and quality now")
        self.chat_button = QPushButton("Open a chat with the recommended level")
        self.chat_button.setAccessibleName("Open a chat")
        self.next_steps = QLabel(
            "Next, measure how fast each level runs here and how close "
            "its answers stay to the full-precision file, or start chatting."
        )
        self.next_steps.setObjectName("hint")
        self.next_steps.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.files)
        layout.addWidget(self.next_steps)
        layout.addWidget(self.measure_button)
        layout.addWidget(self.chat_button)
        layout.addStretch(1)

    def initializePage(self) -> None:
        result = self._choices.result
        assert result is not None  # the Run page moves on only when it has one
        self.files.clear()
        for written in result.written:
            item = QListWidgetItem(
                f"{written.level} · {written.path.name} · {format_bytes(written.size_bytes)}"
            )
            item.setToolTip(str(written.path))
            self.files.addItem(item)
        if result.written:
            self.setSubTitle(f"The new files are in the library ({result.written[0].path.parent}).")
        rows = self.files.sizeHintForRow(0) * self.files.count()
        self.files.setFixedHeight(rows + 2 * self.files.frameWidth() + 4)  # no empty list area
