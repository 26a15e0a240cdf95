"""The main window: composes the library, hardware panel, chat and compare screens.

It owns the app-wide objects (settings, conversation store) and passes them down; the
screens talk to each other only through signals routed here. Background work (library scan,
hardware probe, resumed downloads) starts after the first frame, see :mod:`first_frame`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QEvent, QSize, Qt, QThreadPool
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from converter.storage import format_bytes
from desktop.services.app_settings import Settings, load_settings, save_settings
from desktop.services.conversations import ConversationStore
from desktop.services.model_catalog import library_folders
from desktop.ui.chat.chat_view import ChatView
from desktop.ui.chat.model_picker import ModelBadges
from desktop.ui.compare.compare_view import CompareView
from desktop.ui.first_frame import AfterFirstFrame, load_llama_libraries
from desktop.ui.hardware_panel import HardwarePanel
from desktop.ui.hub.get_started import GetStartedCard
from desktop.ui.hub.hub_view import HubView
from desktop.ui.icons import icon, set_icon
from desktop.ui.library_view import LibraryView
from desktop.ui.settings_dialog import SettingsDialog
from desktop.ui.theme import app_icon, apply_theme
from desktop.ui.thread_tasks import call_worker
from desktop.ui.window_placement import install_on_screen_guard, keep_on_screen

if TYPE_CHECKING:
    from desktop.engine.hardware import HardwareInfo
    from desktop.engine.worker import LoadInfo
    from desktop.ui.api_window import ApiWindow
    from desktop.ui.wizard.conversion_wizard import ConversionWizard

LIBRARY_TAB, CHAT_TAB, COMPARE_TAB, HUB_TAB, API_TAB = range(5)
TAB_ICONS = ("books", "message-circle", "chart-bar", "cloud-download", "api")
#: The Local API page's controls stay in a column this wide on a large screen.
API_PAGE_MAX_WIDTH = 960

HELP_TEXT = """<h3>Quantdesk in four steps</h3>
<ol>
<li><b>Get a model.</b> The Library's Get started card suggests one sized to this machine;
the <b>Hub</b> tab searches Hugging Face for GGUF files and checkpoints; <b>Import GGUF</b>
adds a file you have; <b>Convert</b> turns a Hugging Face checkpoint into GGUF files at the
quantization levels you choose.</li>
<li><b>Chat.</b> Pick the model in the Chat tab and press Load. A base model (one without a
chat template) continues your text instead of answering; the switch beside Load changes that.
The sliders button at the right of that bar shows the conversation's settings (system prompt,
temperature, reply length) beside the chat.</li>
<li><b>Compare levels.</b> Select two to four levels of one model in the Library and press
Compare: size, fit, measured speed and quality side by side.</li>
<li><b>Use it from other programs.</b> <b>Local API</b> serves a model with an
OpenAI-compatible HTTP API on this computer.</li>
</ol>
<p><b>Keys:</b> Ctrl+N a new conversation, Ctrl+L the model list, Ctrl+E eject the model,
Ctrl+Shift+S the chat settings beside the chat, Ctrl+Shift+D a second conversation beside the
first (or Open beside in a conversation's menu), Ctrl+1 to Ctrl+5 the screens; in a message
box (of either pane) Enter sends, Shift+Enter adds a line and Esc stops that pane's reply.</p>
<p>Everything is also available headless: <code>quantdesk --help</code> in a terminal.</p>"""


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Quantdesk")
        self.setWindowIcon(app_icon())
        self.settings = settings or load_settings()
        self.store = ConversationStore()
        self.hardware: HardwareInfo | None = None
        self._wizards: list[ConversionWizard] = []
        self._closing = False
        self.api_window: ApiWindow | None = None
        folders = library_folders(self.settings.extra_library_folders)

        self.library = LibraryView(folders)
        self.hardware_panel = HardwarePanel()
        self.chat = ChatView(self.store, self.settings)
        self.compare = CompareView()
        self.compare.preferred_model = self.settings.last_model  # its ladder shows first
        self.hub = HubView(folders[0])
        self.get_started = GetStartedCard(self.hub.manager, folders[0])
        library_column = QWidget()
        library_column_layout = QVBoxLayout(library_column)
        library_column_layout.setContentsMargins(0, 0, 0, 0)
        library_column_layout.addWidget(self.get_started)
        library_column_layout.addWidget(self.library, 1)
        library_page = QSplitter()
        library_page.addWidget(library_column)
        library_page.addWidget(self.hardware_panel)
        library_page.setStretchFactor(0, 3)
        library_page.setStretchFactor(1, 1)
        library_page.setSizes([900, 340])
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Screens")
        self.tabs.addTab(library_page, "Library")
        self.tabs.addTab(self.chat, "Chat")
        self.tabs.addTab(self.compare, "Compare")
        self.tabs.addTab(self.hub, "Hub")
        # The Local API page is built when first shown: it plans serving slots for a model.
        self.api_page = QWidget()
        self.api_page.setAccessibleName("Local API page")
        self._api_page_layout = QHBoxLayout(self.api_page)
        self.tabs.addTab(self.api_page, "Local API")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.tabs.setIconSize(QSize(18, 18))
        self.setCentralWidget(self.tabs)
        self._build_menus()
        self._build_toolbar()
        self._set_tab_icons()

        self.library.chat_requested.connect(self._on_chat_requested)
        self.library.compare_requested.connect(self._on_compare_requested)
        self.library.folders_changed.connect(self._on_folders_changed)
        self.hardware_panel.hardware_ready.connect(self._on_hardware_ready)
        self.chat.model_loaded.connect(self._on_model_loaded)
        self.library.scanned.connect(self._sync_models)
        self.library.scanned.connect(
            lambda: self.get_started.set_library_empty(not self.library.groups)
        )
        self.library.scanned.connect(self._reopen_last_model)
        self.library.points_updated.connect(self._sync_badges)
        self.hub.downloaded.connect(lambda _path: self.library.refresh())
        self.hub.convert_requested.connect(self.open_wizard_with_source)
        self.hub.token_requested.connect(self.open_token_dialog)
        self.get_started.chat_requested.connect(self._on_chat_requested)

        self.resize(1280, 800)
        install_on_screen_guard()
        self._restore_geometry()
        self._reopen_last_conversation()
        self._last_model_pending = bool(self.settings.last_model)
        self._first_frame = AfterFirstFrame(self, self._start_background_work)

    def _start_background_work(self) -> None:
        """llama.cpp's libraries first, before the scan imports numpy (see first_frame)."""
        loading = call_worker(load_llama_libraries)
        loading.signals.finished.connect(self._start_after_llama)
        loading.start()

    def _start_after_llama(self) -> None:
        if self._closing:
            return
        self.hardware_panel.probe()
        self.library.refresh()
        self.hub.manager.restore()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Import GGUF…", self.library._on_import_clicked, "Ctrl+I")
        self._action(file_menu, "&Convert a checkpoint…", self.open_wizard, "Ctrl+K")
        self._action(file_menu, "Add library &folder…", self.library._on_add_folder_clicked)
        self._action(file_menu, "Hugging Face &token…", lambda: self.open_token_dialog())
        self._action(file_menu, "Local &API server…", self.open_api_window)
        file_menu.addSeparator()
        self._action(
            file_menu, "&Settings…", self.open_settings, QKeySequence.StandardKey.Preferences
        )
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        chat_menu = self.menuBar().addMenu("&Chat")
        self._action(chat_menu, "&New conversation", self.new_chat, QKeySequence.StandardKey.New)
        self._action(chat_menu, "Choose &model…", self.choose_model, "Ctrl+L")
        self._action(chat_menu, "&Eject model", self.chat.eject, "Ctrl+E")
        chat_menu.addSeparator()
        panel_toggle = self.chat.settings_panel.toggle_action
        panel_toggle.setShortcut(QKeySequence("Ctrl+Shift+S"))
        panel_toggle.triggered.connect(  # the change happens where it can be seen
            lambda _checked=False: self.tabs.setCurrentIndex(CHAT_TAB)
        )
        chat_menu.addAction(panel_toggle)
        split = self.chat.split.action
        split.setShortcut(QKeySequence("Ctrl+Shift+D"))
        split.triggered.connect(lambda _checked=False: self.tabs.setCurrentIndex(CHAT_TAB))
        chat_menu.addAction(split)
        view = self.menuBar().addMenu("&View")
        for index, name in enumerate(("&Library", "C&hat", "Co&mpare", "H&ub", "Local &API")):
            self._action(
                view,
                name,
                # triggered passes "checked" first: without the placeholder every item went to 0
                lambda _checked=False, i=index: self.tabs.setCurrentIndex(i),
                f"Ctrl+{index + 1}",
            )
        help_menu = self.menuBar().addMenu("&Help")
        help_key = QKeySequence.StandardKey.HelpContents
        self._action(help_menu, "Quantdesk &help", self.show_help, help_key)
        self._action(help_menu, "&About Quantdesk", self.show_about)

    def _build_toolbar(self) -> None:
        """The main jobs one click away: import, convert, the local API, settings, help."""
        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setIconSize(QSize(18, 18))
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar_actions: dict[str, QAction] = {}
        entries: tuple[tuple[str | None, str, str, str, Any], ...] = (
            ("import", "Import GGUF", "file-import", "Copy a GGUF file into the library",
             self.library._on_import_clicked),
            ("convert", "Convert", "transform",
             "Convert a Hugging Face checkpoint to GGUF and quantize it", self.open_wizard),
            ("api", "Local API", "api",
             "Serve a model with an OpenAI-compatible API on this computer", self.open_api_window),
            (None, "", "", "", None),
            ("settings", "Settings", "settings",
             "Theme, context length, KV cache, threads, system prompt", self.open_settings),
            ("help", "Help", "help-circle", "How Quantdesk works, in four steps", self.show_help),
        )  # fmt: skip
        for key, text, icon_name, tip, slot in entries:
            if key is None:
                bar.addSeparator()
                continue
            action = QAction(text, self)
            action.setToolTip(tip)
            set_icon(action, icon_name)
            action.triggered.connect(slot)
            bar.addAction(action)
            self.toolbar_actions[key] = action
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

    def _set_tab_icons(self) -> None:
        for index, name in enumerate(TAB_ICONS):
            self.tabs.setTabIcon(index, icon(name))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "tabs"):  # a theme switch
            self._set_tab_icons()

    def new_chat(self) -> None:
        """A new, empty conversation in the Chat tab, ready to type in (Ctrl+N)."""
        self.tabs.setCurrentIndex(CHAT_TAB)
        self.chat.new_conversation()
        self.chat.composer.edit.setFocus()

    def choose_model(self) -> None:
        """The Chat tab's model list, open (Ctrl+L)."""
        self.tabs.setCurrentIndex(CHAT_TAB)
        self.chat.model_bar.open_picker()

    def show_help(self) -> None:
        QMessageBox.information(self, "Quantdesk help", HELP_TEXT)

    def show_about(self) -> None:
        import importlib.metadata

        try:
            version = importlib.metadata.version("quantdesk")
        except importlib.metadata.PackageNotFoundError:
            version = "development"
        QMessageBox.about(
            self,
            "About Quantdesk",
            f"<h3>Quantdesk {version}</h3>"
            "<p>A desktop app for local quantized language models: chat, convert, quantize, "
            "compare, serve.</p><p>Built on llama.cpp (MIT) through llama-cpp-python, Qt for "
            "Python (LGPL), and gguf-py (MIT). Icons: Tabler Icons (MIT).</p>",
        )

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    # routing -------------------------------------------------------------------------------
    def _sync_models(self) -> None:
        paths = [f.path for g in self.library.groups for f in g.files if not f.error]
        self.chat.model_bar.set_models(paths)
        self.chat.broken_files = {
            str(f.path): f.error for g in self.library.groups for f in g.files if f.error
        }
        self.compare.set_models(self.library.groups)
        self._sync_badges()

    def _sync_badges(self) -> None:
        """Level, size, fit and measured speed of each file, for the chat's model picker."""
        points = self.library.points
        badges = {}
        for group in self.library.groups:
            for facts in group.files:
                point = points.get(facts.path)
                fit = point.fit_text.split(" · ")[0] if point and self.hardware else ""
                fit = "" if fit.startswith("unknown") else fit  # not predicted (yet)
                speed = point.speed_text if point and point.gen_tokens_per_s else ""
                badges[str(facts.path)] = ModelBadges(
                    facts.level, format_bytes(facts.size_bytes), fit, speed
                )
        self.chat.model_bar.set_badges(badges)

    def _reopen_last_conversation(self) -> None:
        """The conversation open when the app last closed (if it still exists)."""
        cid = self.settings.last_conversation_id
        if cid and any(s.id == cid for s in self.store.list()):
            self.chat.conversations.select(cid)

    def _reopen_last_model(self) -> None:
        """After the first scan: load the model used last, if it is still in the library."""
        if not self._last_model_pending:
            return
        self._last_model_pending = False
        last = self.settings.last_model
        loadable = {str(f.path) for g in self.library.groups for f in g.files if not f.error}
        if last in loadable and self.chat.session.load_info is None and not self.chat.session.busy:
            self.chat.load_model(last)

    def _on_hardware_ready(self, info: HardwareInfo) -> None:
        self.hardware = info
        for target in (self.chat.model_bar, self.compare):
            target.hardware = info
        self.get_started.set_hardware(info)
        self._apply_fit_inputs()

    def _apply_fit_inputs(self) -> None:
        s = self.settings
        self.chat.model_bar.context_tokens = s.context_tokens
        self.chat.model_bar.kv_type = s.kv_type
        if self.hardware is not None:
            self.library.set_fit_inputs(self.hardware, s.context_tokens, s.kv_type)
            self.hub.set_fit_inputs(self.hardware, s.context_tokens, s.kv_type)

    def _on_chat_requested(self, path: str) -> None:
        self.tabs.setCurrentIndex(CHAT_TAB)
        self.chat.load_model(path)

    def _on_measure_requested(self, paths: list[str]) -> None:
        self.tabs.setCurrentIndex(COMPARE_TAB)
        self.compare.measure_when_listed(paths)

    def _on_compare_requested(self, paths: list[str]) -> None:
        self.tabs.setCurrentIndex(COMPARE_TAB)
        self.compare.choose(paths)

    def _on_model_loaded(self, _info: LoadInfo) -> None:
        self.hardware_panel.watch(self.chat.session.stats)
        self.settings = dataclasses.replace(
            self.settings, last_model=str(self.chat.session.model_path)
        )

    def _on_folders_changed(self) -> None:
        extra = tuple(str(p) for p in self.library.folders[1:])
        self.settings = dataclasses.replace(self.settings, extra_library_folders=extra)
        save_settings(self.settings)

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            self.settings = dialog.values()
            self.chat.settings = self.settings
            self.chat.refresh_settings_panel()  # with no conversation open, the new defaults
            save_settings(self.settings)
            app = QApplication.instance()
            if isinstance(app, QApplication):
                apply_theme(app, self.settings.theme)
                self._set_tab_icons()
            self._apply_fit_inputs()
            extra = [Path(p) for p in self.settings.extra_library_folders]
            if self.library.folders[1:] != extra:  # a folder was removed
                self.library.folders[1:] = extra
                self.library.refresh()

    def open_token_dialog(self, reason: str = "") -> None:
        from desktop.ui.hub.token_dialog import TokenDialog

        TokenDialog(reason, self).exec()

    def open_api_window(self) -> ApiWindow:
        """The Local API tab (its page built on first use), with the library's models."""
        from desktop.ui.api_window import ApiWindow

        if self.api_window is None:
            self.api_window = ApiWindow(self._model_paths, parent=self.api_page)
            self.api_window.setMaximumWidth(API_PAGE_MAX_WIDTH)
            self._api_page_layout.addStretch(1)
            self._api_page_layout.addWidget(self.api_window, 1000)
            self._api_page_layout.addStretch(1)
        self.api_window.refresh_models()
        self.tabs.setCurrentIndex(API_TAB)
        return self.api_window

    def _on_tab_changed(self, index: int) -> None:
        if index == API_TAB and self.api_window is None:
            self.open_api_window()

    def _model_paths(self) -> list[str]:
        return [str(f.path) for g in self.library.groups for f in g.files if not f.error]

    def open_wizard_with_source(self, source: str) -> ConversionWizard:
        """The wizard with ``source`` (a folder or a hub repo id) already on its first page."""
        wizard = self.open_wizard()
        wizard.source_page.source.setText(source)
        return wizard

    def open_wizard(self) -> ConversionWizard:
        from desktop.ui.wizard.conversion_wizard import ConversionWizard

        wizard = ConversionWizard(self.library.folders[0], self.hardware, self.settings, self)
        self._wizards.append(wizard)
        wizard.files_written.connect(lambda _paths: self.library.refresh())
        wizard.chat_requested.connect(self._on_chat_requested)
        wizard.measure_requested.connect(self._on_measure_requested)
        wizard.show()
        return wizard

    # life cycle ----------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        s = self.settings
        if s.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(s.window_geometry.encode()))
        if s.window_state:
            self.restoreState(QByteArray.fromBase64(s.window_state.encode()))
        if s.chat_settings_panel is not None:
            self.chat.settings_panel.choose(s.chat_settings_panel)
        keep_on_screen(self)  # saved on a monitor that is no longer there

    def closeEvent(self, event: QCloseEvent) -> None:
        self._closing = True
        self._first_frame.cancel()  # closed before its first frame: start nothing
        self.settings = dataclasses.replace(
            self.settings,
            window_geometry=bytes(self.saveGeometry().toBase64().data()).decode(),
            window_state=bytes(self.saveState().toBase64().data()).decode(),
            last_conversation_id=self.chat.conversation_id or 0,
            chat_settings_panel=self.chat.settings_panel.choice,
        )
        save_settings(self.settings)
        for wizard in self._wizards:
            wizard.stop_and_close()  # no question: its conversion stops, its temporary files go
        self.hardware_panel.watch(None)
        self.chat.session.close()
        if self.api_window is not None:
            self.api_window.stop()  # a hidden window's server too
        self.compare.close_workers()
        self.hub.manager.shutdown()
        QThreadPool.globalInstance().waitForDone(10_000)
        self.store.close()
        super().closeEvent(event)
