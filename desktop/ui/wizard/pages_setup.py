"""The wizard's first three pages: choose the source, check it, choose the levels."""

from __future__ import annotations

import tempfile
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from converter.hub.fetch import source_name
from converter.levels import quantized_levels
from converter.progress import CancelToken, Job
from converter.storage import format_bytes
from desktop.engine.fit_planner import LadderEntry, predict_ladder
from desktop.engine.hardware import HardwareInfo, probe_hardware
from desktop.services.checkpoint_checks import Inspection, inspect_source_in_child
from desktop.services.conversion_choices import ConversionChoices, recommend_level
from desktop.services.conversion_pipeline import CalibrationChoice, calibration_time_text
from desktop.services.conversion_sources import describe_sources, resolver_for
from desktop.services.fit_text import VERDICT_WORDS
from desktop.ui.thread_tasks import ThreadTask, call_worker, job_worker


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


class SourcePage(QWizardPage):
    """Writes ``choices.source`` as it is typed."""

    def __init__(self, choices: ConversionChoices) -> None:
        super().__init__()
        self._choices = choices
        self.setTitle("Source")
        self.setSubTitle("Which model do you want to convert to GGUF?")
        self.source = QLineEdit()
        self.source.setAccessibleName("Checkpoint source")
        self.source.setPlaceholderText("A checkpoint folder, or any source listed below")
        self.source.textChanged.connect(self._on_source_changed)
        browse = QPushButton("Browse…")
        browse.setAccessibleName("Browse for a checkpoint folder")
        browse.clicked.connect(self._on_browse_clicked)
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(_hint(f"Accepted sources:\n{describe_sources()}"))
        layout.addStretch(1)

    def _on_source_changed(self, text: str) -> None:
        self._choices.source = text
        self.completeChanged.emit()

    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a checkpoint folder")
        if folder:
            self.source.setText(folder)

    def isComplete(self) -> bool:
        return resolver_for(self.source.text()) is not None


class CheckPage(QWizardPage):
    """Checks ``choices.source`` in a worker and writes ``choices.inspection``; Next is enabled
    only when every check passes."""

    def __init__(self, choices: ConversionChoices) -> None:
        super().__init__()
        self.setTitle("Check")
        self.setSubTitle("Can this checkpoint be converted on this computer?")
        self._choices = choices
        #: Header-only previews live here; removed when the wizard goes away.
        self.preview_dir = tempfile.TemporaryDirectory(prefix="quantdesk-preview-")
        self._worker: ThreadTask | None = None
        self.table = QTableWidget(0, 2)
        self.table.setAccessibleName("Checks")
        self.table.setHorizontalHeaderLabels(["Check", "Result"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(True)
        self.status = _hint("")
        self.status.setAccessibleName("Check status")
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addStretch(0)

    @property
    def inspection(self) -> Inspection | None:
        return self._choices.inspection

    def initializePage(self) -> None:
        self._choices.inspection = None
        self.table.setRowCount(0)
        self.table.setMaximumHeight(16_777_215)  # QWIDGETSIZE_MAX, until the rows are in
        text = self._choices.source
        resolver = resolver_for(text)
        self.status.setText("Checking…")
        out_dir, preview_dir = self._choices.out_dir, Path(self.preview_dir.name)

        def job(cancel: CancelToken) -> Job[Inspection]:
            assert resolver is not None
            folder = yield from resolver.resolve(text, cancel)
            return inspect_source_in_child(folder, out_dir, preview_dir, name=source_name(text))

        self._worker = job_worker(job)
        self._worker.signals.yielded.connect(lambda event: self.status.setText(event.message))
        self._worker.signals.returned.connect(self._on_inspected)
        self._worker.signals.errored.connect(lambda exc: self.status.setText(str(exc)))
        self._worker.start()

    def _on_inspected(self, inspection: Inspection) -> None:
        self._choices.inspection = inspection
        self.table.setRowCount(len(inspection.rows))
        for i, row in enumerate(inspection.rows):
            mark = "✔" if row.ok else "✘"
            self.table.setItem(i, 0, QTableWidgetItem(f"{mark} {row.name}"))
            self.table.setItem(i, 1, QTableWidgetItem(row.detail))
        self.table.resizeColumnToContents(0)
        self.table.resizeRowsToContents()
        rows = self.table.verticalHeader().length() + self.table.horizontalHeader().height()
        self.table.setMaximumHeight(rows + 2 * self.table.frameWidth())  # no empty table area
        self.status.setText(
            f"{inspection.model_name} ({inspection.architecture}) can be converted to "
            f"{inspection.outtype}, about {format_bytes(inspection.converted_bytes)}."
            if inspection.ok
            else "This checkpoint cannot be converted; the rows above say why and what to do."
        )
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.inspection is not None and self.inspection.ok


#: Width beside a level's name for its check box (16 px with its border) and the margins.
_CHECK_ROOM_PX = 40
#: The Calibrate choices, in the order the list shows them.
_CALIBRATION_SOURCES = (
    ("bundled", "the bundled calibration text"),
    ("text", "my own text (a file or a folder)…"),
    ("file", "an importance matrix file (.gguf or imatrix.dat)…"),
)


class LevelsPage(QWizardPage):
    """The ladder with predicted size and fit; the recommended level is ticked.

    "Calibrate" quantizes with an importance matrix, from the bundled text, the user's own
    text, or a matrix file; the IQ levels, which need one, are listed only while it is on.
    Reads ``choices.inspection``; writes ``choices.recommended_level``, and ``choices.levels``
    and ``choices.calibration`` when the user moves on.
    """

    def __init__(
        self,
        choices: ConversionChoices,
        hardware: HardwareInfo | None,
        ctx_tokens: int,
        kv_type: str,
    ) -> None:
        super().__init__()
        self.setTitle("Levels")
        self.setSubTitle("Which quantization levels should be made?")
        self._choices = choices
        self.hardware, self.ctx_tokens, self.kv_type = hardware, ctx_tokens, kv_type
        self.table = QTableWidget(0, 5)
        self.table.setAccessibleName("Levels")
        self.table.setHorizontalHeaderLabels(["Level", "Size", "Memory", "Fit", "About"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.itemChanged.connect(lambda _item: self.completeChanged.emit())
        self.status = _hint("")
        self.status.setAccessibleName("Recommendation")
        self.calibrate = QCheckBox(
            "Calibrate (importance matrix): better small levels, adds IQ levels"
        )
        self.calibrate.setAccessibleName("Calibrate")
        self.calibrate.toggled.connect(self._on_calibrate_toggled)
        self.calibration_source = QComboBox()
        self.calibration_source.setAccessibleName("Calibration source")
        for kind, words in _CALIBRATION_SOURCES:
            self.calibration_source.addItem(words, kind)
        self.calibration_source.currentIndexChanged.connect(self._on_source_changed)
        self.calibration_path = QLineEdit()
        self.calibration_path.setAccessibleName("Calibration file")
        self.calibration_path.textChanged.connect(self._on_calibration_path_changed)
        self.calibration_browse = QPushButton("Browse…")
        self.calibration_browse.setAccessibleName("Browse for the calibration file")
        self.calibration_browse.clicked.connect(self._on_calibration_browse_clicked)
        self.calibration_hint = _hint(
            "Quality of calibrated levels is measured on the evaluation text (The Time "
            "Machine), never on the text they were calibrated on."
        )
        # How long collecting will take, worked out off the GUI thread for the text chosen.
        self.calibration_time = _hint("")
        self.calibration_time.setAccessibleName("Calibration time")
        self._time_asked = 0  # which request the label may show (later ones replace it)
        row = QHBoxLayout()
        row.addWidget(self.calibrate)
        row.addWidget(self.calibration_source, 1)
        path_row = QHBoxLayout()
        path_row.addWidget(self.calibration_path, 1)
        path_row.addWidget(self.calibration_browse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addLayout(path_row)
        layout.addWidget(self.calibration_hint)
        layout.addWidget(self.calibration_time)
        self._on_source_changed()

    def _on_calibrate_toggled(self, on: bool) -> None:
        self.calibration_source.setEnabled(on)
        self._on_source_changed()  # asks for the calibration time too
        if self._choices.inspection is not None:
            self._predict_levels()  # the IQ levels come and go

    def _on_source_changed(self, _index: int = 0) -> None:
        needs_path = self.calibrate.isChecked() and self._source_kind() != "bundled"
        for widget in (self.calibration_path, self.calibration_browse):
            widget.setVisible(needs_path)
        self.calibration_path.setPlaceholderText(
            "A .txt/.md file or a folder of them"
            if self._source_kind() == "text"
            else "An importance matrix: .imatrix.gguf or imatrix.dat"
        )
        self.calibration_hint.setVisible(self.calibrate.isChecked())
        self._ask_calibration_time()
        self.completeChanged.emit()

    def _on_calibration_path_changed(self, _text: str) -> None:
        self._ask_calibration_time()
        self.completeChanged.emit()

    def _ask_calibration_time(self) -> None:
        """Say how long collecting the matrix will take, for the text now chosen."""
        self._time_asked += 1
        self.calibration_time.setText("")
        inspection = self._choices.inspection
        choice = self.calibration_choice()
        preview = None if inspection is None else inspection.preview
        if choice is None or choice.kind == "file" or preview is None:
            self.calibration_time.setVisible(False)
            return
        self.calibration_time.setVisible(True)
        asked = self._time_asked

        def show(text: str) -> None:
            if asked == self._time_asked:  # a later choice has not replaced this one
                self.calibration_time.setText(text)

        worker = call_worker(calibration_time_text, preview, choice)
        worker.signals.returned.connect(show)
        worker.signals.errored.connect(lambda exc: show(str(exc)))
        worker.start()

    def _source_kind(self) -> str:
        return str(self.calibration_source.currentData())

    def _on_calibration_browse_clicked(self) -> None:
        if self._source_kind() == "text":
            path, _ = QFileDialog.getOpenFileName(
                self, "Choose a calibration text", "", "Text (*.txt *.md);;All files (*)"
            )
        else:
            path, _ = QFileDialog.getOpenFileName(
                self,
                "Choose an importance matrix",
                "",
                "Importance matrix (*.gguf *.dat);;All files (*)",
            )
        if path:
            self.calibration_path.setText(path)

    def calibration_choice(self) -> CalibrationChoice | None:
        """What the Calibrate controls ask for, or None when off or incomplete."""
        if not self.calibrate.isChecked():
            return None
        kind = self._source_kind()
        if kind == "bundled":
            return CalibrationChoice("bundled")
        text = self.calibration_path.text().strip()
        return CalibrationChoice(kind, Path(text)) if text else None  # type: ignore[arg-type]

    @property
    def recommended(self) -> str | None:
        return self._choices.recommended_level

    def initializePage(self) -> None:
        self._predict_levels()
        self._ask_calibration_time()  # for this checkpoint, when Calibrate is already on

    def _predict_levels(self) -> None:
        inspection = self._choices.inspection
        assert inspection is not None and inspection.preview is not None
        self.status.setText(f"Predicting each level's size and fit at {self.ctx_tokens} tokens…")
        preview, hardware = inspection.preview, self.hardware
        levels = quantized_levels(with_imatrix=self.calibrate.isChecked())

        def predict(_cancel: CancelToken) -> Job[list[LadderEntry]]:
            info = hardware or probe_hardware()
            return predict_ladder(
                preview, info, ctx_tokens=self.ctx_tokens, kv_type=self.kv_type, levels=levels
            )
            yield  # a job without progress

        worker = job_worker(predict)
        worker.signals.returned.connect(self._on_predicted)
        worker.signals.errored.connect(lambda exc: self.status.setText(str(exc)))
        worker.start()
        self.table.setRowCount(0)

    def _on_predicted(self, entries: list[LadderEntry]) -> None:
        recommendation = recommend_level(entries)
        self._choices.recommended_level = recommendation.level
        self.table.blockSignals(True)
        self.table.setRowCount(len(entries))
        for i, entry in enumerate(entries):
            plan = entry.plan
            name = QTableWidgetItem(entry.level.name)
            name.setFlags(name.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            ticked = entry.level.name == self.recommended
            name.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
            memory = f"RAM {format_bytes(plan.ram_bytes)}"
            if plan.vram_bytes:
                memory += f", VRAM {format_bytes(plan.vram_bytes)}"
            verdict = VERDICT_WORDS.get(str(plan.verdict), str(plan.verdict))
            if str(plan.verdict) == "partial_gpu":
                verdict += f" ({plan.gpu_layers} of {plan.total_layers} layers)"
            cells = [name, QTableWidgetItem(format_bytes(entry.size_bytes)),
                     QTableWidgetItem(memory), QTableWidgetItem(verdict),
                     QTableWidgetItem(entry.level.description)]  # fmt: skip
            cells[3].setToolTip(plan.explanation)
            for column, cell in enumerate(cells):
                self.table.setItem(i, column, cell)
        self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        # The size hint leaves too little room for the themed check box beside a long name
        # (IQ2_XXS showed as "IQ2_X…"): the name, the box and the margins around both.
        longest = max((entry.level.name for entry in entries), key=len, default="")
        name_width = self.table.fontMetrics().horizontalAdvance(longest) + _CHECK_ROOM_PX
        self.table.setColumnWidth(0, max(self.table.columnWidth(0), name_width))
        self.status.setText(
            f"Recommended: {self.recommended}, the best quality that fits this machine"
            + (" fully on the GPU." if recommendation.full_gpu else " in memory.")
            if self.recommended
            else "No level is predicted to fit this machine; you can still make them."
        )
        self.completeChanged.emit()

    def chosen_levels(self) -> list[str]:
        rows = range(self.table.rowCount())
        items = [self.table.item(r, 0) for r in rows]
        chosen = {i.text() for i in items if i and i.checkState() == Qt.CheckState.Checked}
        offered = quantized_levels(with_imatrix=self.calibrate.isChecked())
        return [lv.name for lv in offered if lv.name in chosen]

    def set_chosen(self, levels: list[str]) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is None:
                continue
            checked = item.text() in levels
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def validatePage(self) -> bool:
        self._choices.levels = tuple(self.chosen_levels())
        self._choices.calibration = self.calibration_choice()
        return True

    def isComplete(self) -> bool:
        calibration_ready = not self.calibrate.isChecked() or self.calibration_choice() is not None
        return bool(self.chosen_levels()) and calibration_ready
