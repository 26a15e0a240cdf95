"""Convert a checkpoint and quantize it, step by step: source, check, levels, run, done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMessageBox, QWidget, QWizard

from desktop.services.app_settings import Settings
from desktop.ui.wizard.pages_run import DonePage, RunPage
from desktop.ui.wizard.pages_setup import CheckPage, LevelsPage, SourcePage


class ConversionWizard(QWizard):
    files_written = Signal(list)  # [Path]
    chat_requested = Signal(str)
    measure_requested = Signal(list)  # [str] paths to compare

    def __init__(
        self, library: Path, hardware: Any, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Convert a checkpoint")
        self.setAccessibleName("Conversion wizard")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.resize(820, 580)
        self.source_page = SourcePage()
        self.check_page = CheckPage(library)
        self.levels_page = LevelsPage(hardware, settings.context_tokens, settings.kv_type)
        self.run_page = RunPage(library)
        self.done_page = DonePage()
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
        if self.currentPage() is self.done_page and self.run_page.result is not None:
            self.files_written.emit(self.run_page.result.paths)

    def _written_paths(self) -> list[str]:
        result = self.run_page.result
        return [str(p) for p in result.paths] if result is not None else []

    def _on_measure_clicked(self) -> None:
        self.measure_requested.emit(self._written_paths()[:4])
        self.accept()

    def _on_chat_clicked(self) -> None:
        result = self.run_page.result
        if result is None:
            return
        recommended = self.levels_page.recommended
        pick = next((w for w in result.written if w.level == recommended), result.written[-1])
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
