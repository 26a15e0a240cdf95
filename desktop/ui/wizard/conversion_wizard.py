"""Convert a checkpoint and quantize it, step by step: source, check, levels, run, done."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMessageBox, QWidget, QWizard

from desktop.engine.hardware import HardwareInfo
from desktop.services.app_settings import Settings
from desktop.services.conversion_choices import ConversionChoices
from desktop.ui.wizard.pages_run import DonePage, RunPage
from desktop.ui.wizard.pages_setup import CheckPage, LevelsPage, SourcePage


class ConversionWizard(QWizard):
    """The pages share one :class:`ConversionChoices`: each writes what it decides there and
    reads what earlier pages decided from it, never from their widgets."""

    files_written = Signal(list)  # [Path]
    chat_requested = Signal(str)
    measure_requested = Signal(list)  # [str] paths to compare

    def __init__(
        self,
        library: Path,
        hardware: HardwareInfo | None,
        settings: Settings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Convert a checkpoint")
        self.setAccessibleName("Conversion wizard")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.resize(820, 580)
        self.choices = ConversionChoices(out_dir=library)
        self.source_page = SourcePage(self.choices)
        self.check_page = CheckPage(self.choices)
        self.levels_page = LevelsPage(
            self.choices, hardware, settings.context_tokens, settings.kv_type
        )
        self.run_page = RunPage(self.choices)
        self.done_page = DonePage(self.choices)
        for page in (
            self.source_page,
            self.check_page,
            self.levels_page,
            self.run_page,
            self.done_page,
        ):
            self.addPage(page)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage)  # done: nothing to cancel
        self.done_page.measure_button.clicked.connect(self._on_measure_clicked)
        self.done_page.chat_button.clicked.connect(self._on_chat_clicked)
        self.currentIdChanged.connect(self._on_page_changed)

    def _on_page_changed(self, _page_id: int) -> None:
        running = self.currentPage() is self.run_page
        self.button(QWizard.WizardButton.BackButton).setEnabled(not running)
        if self.currentPage() is self.done_page and self.choices.result is not None:
            self.files_written.emit(self.choices.written_paths())

    def _on_measure_clicked(self) -> None:
        self.measure_requested.emit([str(p) for p in self.choices.written_paths()[:4]])
        self.accept()

    def _on_chat_clicked(self) -> None:
        pick = self.choices.file_to_chat_with()
        if pick is None:
            return
        self.chat_requested.emit(str(pick.path))
        self.accept()

    def reject(self) -> None:
        """Cancel: a running conversion is stopped first (its partial file is removed)."""
        if self.run_page.running and not self.run_page.stopping:
            answer = QMessageBox.question(
                self, "Cancel the conversion", "Stop converting? Files already finished are kept."
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
            self.run_page.cancel()
        super().reject()

    def done(self, result: int) -> None:
        super().done(result)
        self._discard_preview()

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)  # reject(): asks first while a conversion runs
        if event.isAccepted():
            self.run_page.cancel()
            self._discard_preview()

    def stop_and_close(self) -> None:
        """The app is quitting: stop a running conversion without asking, and close."""
        self.run_page.cancel()
        self.close()

    def _discard_preview(self) -> None:
        """Remove the header-only preview now, not whenever the garbage collector gets to it."""
        self.check_page.preview_dir.cleanup()
