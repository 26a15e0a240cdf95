"""App-wide settings: theme, default context and KV cache, threads, default system prompt,
and the extra library folders (added from the library screen, removed here). A sidebar of
sections (Appearance, Models and memory, Chats, Library), each page saying what it holds.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.services.app_settings import KV_TYPES, THEMES, Settings
from desktop.ui.dialog_forms import explain_fields, ok_cancel_buttons
from desktop.ui.icons import icon

ICON_ROLE = Qt.ItemDataRole.UserRole  # a section's icon name, to draw it again in a new theme


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.setMinimumSize(720, 380)
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

        self.sections = QListWidget()
        self.sections.setObjectName("settingsSidebar")
        self.sections.setAccessibleName("Settings sections")
        self.sections.setFixedWidth(200)
        self.sections.setIconSize(QSize(18, 18))
        self.sections.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sections.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.pages = QStackedWidget()
        appearance = self._add_section(
            "Appearance",
            "eye",
            "How Quantdesk looks. The theme changes at once when you "
            "press OK, in every open window.",
        )
        appearance.addRow("Theme", self.theme)
        models = self._add_section(
            "Models and memory",
            "cpu",
            "How models are loaded unless you choose otherwise. "
            "Each model can keep settings of its own: the settings button beside Load in the "
            "chat.",
        )
        models.addRow("Context for fit and new chats", self.context)
        models.addRow("KV cache", self.kv_type)
        models.addRow("CPU threads", self.threads)
        chats = self._add_section(
            "Chats",
            "message-circle",
            "What a new conversation starts with. Each conversation "
            "keeps its own copy: Chat settings in the chat.",
        )
        chats.addRow("System prompt for new chats", self.system_prompt)
        library = self._add_section(
            "Library",
            "books",
            "Where the library finds GGUF files besides its own folder. "
            "Add a folder from the Library's Add folder button.",
        )
        library.addRow("Extra library folders", folder_box)
        tips = (
            (self.theme, "Light, dark, or follow the desktop's colour scheme."),
            (self.context, "Context length, in tokens, used for the fit predictions in the "
             "library and for new chats. Longer contexts need more memory for the KV cache."),
            (self.kv_type, "How the attention cache is stored: f16 is exact; q8_0 halves its "
             "memory with hardly a difference; q4_0 quarters it and can lower quality."),
            (self.threads, "CPU threads llama.cpp uses. Automatic (0): one per physical "
             "core, and one for writing replies when the whole model is on the GPU."),
            (self.system_prompt, "What new chats tell the model before the conversation; each "
             "conversation can change its own copy (Chat settings)."),
            (self.folders, "Folders besides the library folder whose GGUF files are listed. "
             "Add one from the Library's Add folder button."),
        )  # fmt: skip
        for form in (appearance, models, chats, library):
            explain_fields(form, tips)
        self.sections.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.sections.setCurrentRow(0)

        body = QHBoxLayout()
        body.addWidget(self.sections)
        body.addWidget(self.pages, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(ok_cancel_buttons(self))

    def _add_section(self, title: str, icon_name: str, about: str) -> QFormLayout:
        """A sidebar entry and its page: a heading, a line on what it holds, then its form."""
        item = QListWidgetItem(icon(icon_name), title)
        item.setData(ICON_ROLE, icon_name)
        self.sections.addItem(item)
        page = QWidget()
        page.setAccessibleName(f"{title} settings")
        heading = QLabel(title)
        heading.setObjectName("sectionTitle")
        line = QLabel(about)
        line.setObjectName("hint")
        line.setWordWrap(True)
        column = QVBoxLayout(page)
        column.setContentsMargins(12, 0, 0, 0)
        column.addWidget(heading)
        column.addWidget(line)
        form = QFormLayout()
        column.addLayout(form)
        column.addStretch(1)
        self.pages.addWidget(page)
        return form

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the theme changed: icons in its colours
            for row in range(self.sections.count()):
                item = self.sections.item(row)
                item.setIcon(icon(str(item.data(ICON_ROLE))))

    def show_section(self, title: str) -> None:
        """Open the page ``title`` ("Library", "Chats"…)."""
        for row in range(self.sections.count()):
            if self.sections.item(row).text() == title:
                self.sections.setCurrentRow(row)
                return
        raise ValueError(f"No settings section {title!r}")

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
