"""App-wide settings: theme, default context and KV cache, threads, default system prompt."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from desktop.settings import KV_TYPES, THEMES, Settings


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self._settings = settings
        self.theme = QComboBox()
        self.theme.setAccessibleName("Theme")
        self.theme.addItems([t.capitalize() for t in THEMES])
        self.theme.setCurrentIndex(THEMES.index(settings.theme))
        self.context = QSpinBox()
        self.context.setAccessibleName("Default context length")
        self.context.setRange(256, 262144)
        self.context.setSingleStep(1024)
        self.context.setValue(settings.context_tokens)
        self.kv_type = QComboBox()
        self.kv_type.setAccessibleName("KV cache type")
        self.kv_type.addItems(list(KV_TYPES))
        self.kv_type.setCurrentText(settings.kv_type)
        self.threads = QSpinBox()
        self.threads.setAccessibleName("CPU threads")
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(settings.threads)
        self.system_prompt = QPlainTextEdit(settings.system_prompt)
        self.system_prompt.setAccessibleName("Default system prompt")
        self.system_prompt.setFixedHeight(80)
        folders = "\n".join(settings.extra_library_folders) or "none"
        extra = QLabel(f"Extra library folders:\n{folders}")
        extra.setObjectName("hint")
        extra.setWordWrap(True)

        form = QFormLayout(self)
        form.addRow("Theme", self.theme)
        form.addRow("Context for fit and new chats", self.context)
        form.addRow("KV cache", self.kv_type)
        form.addRow("CPU threads", self.threads)
        form.addRow("System prompt for new chats", self.system_prompt)
        form.addRow(extra)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> Settings:
        sampling = dataclasses.replace(self._settings.sampling, context_tokens=self.context.value())
        return dataclasses.replace(
            self._settings,
            theme=THEMES[self.theme.currentIndex()],
            context_tokens=self.context.value(),
            kv_type=self.kv_type.currentText(),
            threads=self.threads.value(),
            system_prompt=self.system_prompt.toPlainText(),
            sampling=sampling,
        )
