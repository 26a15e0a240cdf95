"""The main window (placeholder until the app's own work lands)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Quantdesk")
        self.resize(1280, 800)
        label = QLabel("Quantdesk: the model library, chat and the conversion wizard come here.")
        label.setAccessibleName("placeholder")
        self.setCentralWidget(label)
