"""App-wide settings: theme, default context and KV cache, threads, default system prompt,
and the extra library folders (added from the library screen, removed here).
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.services.app_settings import KV_TYPES, THEMES, Settings
from desktop.ui.dialog_forms import finish_form


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.setMinimumWidth(560)
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
        self.folders = QListWidget()
        self.folders.setAccessibleName("Extra library folders")
        self.folders.addItems(list(settings.extra_library_folders))
        self.folders.setMaximumHeight(90)
        self.folders.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.folders.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for row in range(self.folders.count()):
            item = self.folders.item(row)
            item.setToolTip(item.text())
        self.remove_folder_button = QPushButton("Remove folder")
        self.remove_folder_button.setAccessibleName("Remove library folder")
        self.remove_folder_button.setToolTip("The library stops listing it; no file is deleted.")
        self.remove_folder_button.clicked.connect(self._on_remove_folder_clicked)
        self.folders.currentRowChanged.connect(self._update_remove_button)
        self._update_remove_button()
        folder_box = QVBoxLayout()
        folder_box.addWidget(self.folders)
        folder_row = QHBoxLayout()
        folder_row.addStretch(1)
        folder_row.addWidget(self.remove_folder_button)
        folder_box.addLayout(folder_row)

        form = QFormLayout(self)
        form.addRow("Theme", self.theme)
        form.addRow("Context for fit and new chats", self.context)
        form.addRow("KV cache", self.kv_type)
        form.addRow("CPU threads", self.threads)
        form.addRow("System prompt for new chats", self.system_prompt)
        form.addRow("Extra library folders", folder_box)
        finish_form(self, form, (
            (self.theme, "Light, dark, or follow the desktop's colour scheme."),
            (self.context, "Context length, in tokens, used for the fit predictions in the "
             "library and for new chats. Longer contexts need more memory for the KV cache."),
            (self.kv_type, "How the attention cache is stored: f16 is exact; q8_0 halves its "
             "memory with hardly a difference; q4_0 quarters it and can lower quality."),
            (self.threads, "CPU threads llama.cpp uses. Automatic (0) lets llama.cpp choose, "
             "usually the number of physical cores."),
            (self.system_prompt, "What new chats tell the model before the conversation; each "
             "conversation can change its own copy (Chat settings)."),
            (self.folders, "Folders besides the library folder whose GGUF files are listed. "
             "Add one from the Library's Add folder button."),
        ))  # fmt: skip

    def _update_remove_button(self, *_args: object) -> None:
        self.remove_folder_button.setEnabled(self.folders.currentRow() >= 0)

    def _on_remove_folder_clicked(self) -> None:
        row = self.folders.currentRow()
        if row >= 0:
            self.folders.takeItem(row)
        self._update_remove_button()

    def folder_list(self) -> tuple[str, ...]:
        return tuple(self.folders.item(row).text() for row in range(self.folders.count()))

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
            extra_library_folders=self.folder_list(),
        )
