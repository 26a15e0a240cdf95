"""The "Local API" page: ``quantdesk serve`` from the app, like LM Studio's Developer tab.

The main window shows it as its Local API tab (the File menu and the toolbar open that tab);
a test can also show it on its own.

Loading the model takes seconds, so :meth:`ModelServer.start` runs in a :class:`ThreadTask`;
request lines come from the server's threads through a signal, so widgets are touched only on
the GUI thread. Closing the window (or the app) stops the server: a forgotten one would keep
the port and the model's memory.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from converter.gguf_shards import model_name
from converter.progress import Progress
from desktop.engine.server.formatting import curl_example
from desktop.engine.server.model_server import DEFAULT_PORT, ModelServer, ServerState
from desktop.engine.worker import LoadSettings
from desktop.services.model_catalog import model_catalog
from desktop.services.serving_slots import parallel_slots
from desktop.ui.icons import set_icon
from desktop.ui.thread_tasks import ThreadTask

#: Most replies at once the window offers (the CLI's --parallel allows more).
MAX_REPLIES_AT_ONCE = 16

ERROR_STYLE = "color: #d93025;"


def row(*widgets: QWidget | None, grow: int) -> QHBoxLayout:
    """The widget at index ``grow`` takes the spare width (None stands for empty space)."""
    layout = QHBoxLayout()
    for index, widget in enumerate(widgets):
        if widget is None:
            layout.addStretch(1 if index == grow else 0)
        else:
            layout.addWidget(widget, 1 if index == grow else 0)
    return layout


def read_only_text() -> QPlainTextEdit:
    text = QPlainTextEdit()
    text.setReadOnly(True)
    text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return text


class ApiWindow(QWidget):
    """Start and stop one :class:`ModelServer`; shows its address, an example and its log."""

    #: One line per request, emitted on the server's threads, handled on the GUI thread.
    request_logged = Signal(str)
    #: A request had another model of the library loaded (its path; from a server thread).
    model_switched = Signal(str)

    def __init__(
        self,
        list_models: Callable[[], list[str]],
        load_settings: LoadSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Local API server")
        self._list_models = list_models
        self._load_settings = load_settings
        self.server: ModelServer | None = None

        self.model = QComboBox()
        self.model.setAccessibleName("Model")
        self.model.setMinimumContentsLength(28)
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._on_browse_clicked)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(DEFAULT_PORT)
        self.port.setAccessibleName("Port")
        self.port.setMinimumWidth(110)
        self.expose = QCheckBox("Allow other computers (0.0.0.0)")
        self.expose_warning = QLabel(
            "Anyone on your network can use it. Set an API key so only those who know it can."
        )
        self.expose_warning.setObjectName("warning")  # the theme's warning colour
        self.expose_warning.setWordWrap(True)
        self.expose_warning.setVisible(False)
        self.cors = QCheckBox("Allow web pages to call it (CORS)")
        self.jit = QCheckBox("Load the model a request names")
        self.jit.setToolTip(
            'A request whose "model" is another model of your library (its file name '
            "without .gguf) loads that model in place of this one, once the replies under way "
            "have ended. Any other name is answered by the model loaded."
        )
        self._catalog: dict[str, Path] = {}  # the library's models by id, for the server
        self.replies = QSpinBox()
        self.replies.setRange(0, MAX_REPLIES_AT_ONCE)
        self.replies.setSpecialValueText("Auto")  # 0: as many as fit this machine
        self.replies.setAccessibleName("Replies at once")
        self.replies.setToolTip(
            "How many requests are answered at the same time, each with its own context. "
            "Auto: as many of 4, 2 or 1 as fit this machine's memory. More replies at once "
            "serve several clients (an editor, an agent) without making them wait in line."
        )
        self.replies.setMinimumWidth(110)
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setAccessibleName("API key")
        self.api_key.setPlaceholderText("optional")
        self.api_key.setToolTip(
            "When set, clients must send it as 'Authorization: Bearer KEY' (the OpenAI "
            "clients' api_key); requests without it are refused."
        )
        self._auto_replies: dict[str, int] = {}  # model path → slots that fit
        self._finding_replies: set[str] = set()  # model paths being planned
        self._start_pending: str | None = None  # Start pressed before "Auto" was known
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primary")
        self.start_button.setCheckable(True)  # a switch: down while the server runs
        self.start_button.setAccessibleName("Server switch")
        self.start_button.setToolTip("Start the server with the model above; press again to stop")
        set_icon(self.start_button, "player-play")
        self.start_button.clicked.connect(
            lambda: self.start() if self.server is None and not self._start_pending else self.stop()
        )
        self.status = QLabel("Stopped")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.url = QLineEdit()
        self.url.setReadOnly(True)
        self.url.setAccessibleName("URL")
        self.copy_button = QPushButton("Copy")
        set_icon(self.copy_button, "copy")
        self.copy_button.setToolTip("Copy the address, for a client's base URL setting")
        self.copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.url.text())
        )
        self.example = read_only_text()
        self.example.setFixedHeight(self.example.fontMetrics().lineSpacing() * 4 + 16)
        self.log = read_only_text()
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("Requests appear here.")

        form = QFormLayout()
        form.addRow("Model:", row(self.model, self.browse, grow=0))
        form.addRow("Port:", row(self.port, None, grow=1))  # a full-width spin box looks broken
        form.addRow("", self.expose)
        form.addRow("", self.expose_warning)
        form.addRow("", self.cors)
        form.addRow("", self.jit)
        form.addRow("Replies at once:", row(self.replies, None, grow=1))
        form.addRow("API key:", self.api_key)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row(self.start_button, self.status, grow=1))
        layout.addWidget(
            QLabel(
                "Address (OpenAI base URL; Ollama's and Anthropic's clients take it without /v1):"
            )
        )
        layout.addLayout(row(self.url, self.copy_button, grow=0))
        layout.addWidget(QLabel("Try it:"))
        layout.addWidget(self.example)
        layout.addWidget(QLabel("Requests:"))
        layout.addWidget(self.log, 1)

        self.request_logged.connect(self._append_log)
        self.model_switched.connect(self._on_model_switched)
        self.expose.toggled.connect(self.expose_warning.setVisible)
        self.model.currentIndexChanged.connect(self._show_address)
        self.model.currentIndexChanged.connect(self._find_auto_replies)
        for change in (self.expose.toggled, self.port.valueChanged):
            change.connect(self._show_address)
        self.refresh_models()
        self._find_auto_replies()
        self.resize(640, 620)

    # --- choices -------------------------------------------------------------------------------
    def refresh_models(self) -> None:
        """Offer the library's new models too (the current choice stays chosen)."""
        paths = self._list_models()
        for path in paths:
            if self.model.findData(path) < 0:
                self.model.addItem(Path(path).name, path)
        self._catalog = model_catalog(paths)  # replaced whole: the server's threads read it
        self._show_address()

    def choose_model(self, path: str) -> None:
        if self.model.findData(path) < 0:
            self.model.addItem(Path(path).name, path)
        self.model.setCurrentIndex(self.model.findData(path))

    def model_path(self) -> str | None:
        data = self.model.currentData()
        return str(data) if data else None

    def host(self) -> str:
        return "0.0.0.0" if self.expose.isChecked() else "127.0.0.1"

    def _on_browse_clicked(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, "Choose a model", "", "GGUF (*.gguf)")
        if path:
            self.choose_model(path)

    def _find_auto_replies(self, *_args: object) -> None:
        """Work out (off the GUI thread) how many replies at once fit, for "Auto"."""
        path = self.model_path()
        if path is None or path in self._auto_replies:
            self._show_auto_replies()
            return
        if path in self._finding_replies:
            return
        self._finding_replies.add(path)
        settings = self._settings(parallel=1)
        task = ThreadTask(lambda _emit: parallel_slots(Path(path), settings))
        task.signals.returned.connect(lambda slots: self._remember_auto_replies(path, slots))
        # A file the planner cannot read gets one reply at once; starting says why it fails.
        task.signals.errored.connect(lambda _error: self._remember_auto_replies(path, 1))
        task.start()

    def _remember_auto_replies(self, path: str, slots: int) -> None:
        self._finding_replies.discard(path)
        self._auto_replies[path] = slots
        self._show_auto_replies()
        if self._start_pending == path:
            self._start_pending = None
            self.start()

    def _show_auto_replies(self) -> None:
        slots = self._auto_replies.get(self.model_path() or "")
        self.replies.setSpecialValueText("Auto" if slots is None else f"Auto ({slots})")

    def _settings(self, parallel: int) -> LoadSettings:
        return dataclasses.replace(self._load_settings or LoadSettings(), parallel=parallel)

    def _show_address(self) -> None:
        if self.server is not None and self.server.state is ServerState.RUNNING:
            url, model_id = self.server.url, self.server.serving_model_id
        else:
            url = f"http://{self.host()}:{self.port.value()}/v1"
            model_id = model_name(Path(self.model_path() or "model.gguf"))
        self.url.setText(url)
        self.example.setPlainText(curl_example(url, model_id, line_break=" \\\n  "))

    # --- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        path = self.model_path()
        if path is None:
            self._show_status("Choose a model first (Browse… opens any GGUF file).", error=True)
            return
        if not self.replies.value() and path not in self._auto_replies:
            # "Auto" is still being worked out (a moment after choosing a model): start then.
            self._start_pending = path
            self._set_serving_controls(True)  # the switch is on, waiting; Stop still works
            self._show_status("Working out how many replies at once fit…")
            self._find_auto_replies()
            return
        parallel = self.replies.value() or self._auto_replies[path]
        self.server = ModelServer(
            Path(path),
            self._settings(parallel),
            host=self.host(),
            port=self.port.value(),
            cors=self.cors.isChecked(),
            api_key=self.api_key.text().strip() or None,
            on_request=self.request_logged.emit,
            catalog=(lambda: self._catalog) if self.jit.isChecked() else None,
            on_model_switch=lambda path: self.model_switched.emit(str(path)),
        )
        self._set_serving_controls(True)
        self._show_status("Loading…")
        server = self.server
        starting = ThreadTask(lambda emit: server.start(on_progress=emit))
        # Each slot first checks the server is still ours: Stop while loading interrupts
        # the load, and that load's error is no failure worth showing.
        starting.signals.yielded.connect(lambda fraction: self._on_load_progress(server, fraction))
        starting.signals.returned.connect(lambda _info: self._on_serving(server))
        starting.signals.errored.connect(lambda error: self._on_start_failed(server, error))
        starting.start()

    def _on_load_progress(self, server: ModelServer, event: Progress) -> None:
        if server is self.server:
            self._show_status(f"Loading… {event.fraction or 0:.0%}")

    def _on_serving(self, server: ModelServer) -> None:
        if server is not self.server:  # stopped before its start began: stop it now
            server.stop()
            return
        self._show_serving(server)

    def _show_serving(self, server: ModelServer) -> None:
        info = server.load_info
        at_once = "" if info is None else f" · {_replies_at_once(info.parallel)}"
        named = "" if server.serving_model_id == server.model_id else f"{server.serving_model_id} "
        self._show_status(f"Serving {named}at {server.url}{at_once}")
        self._show_address()

    def _on_model_switched(self, path: str) -> None:
        """The model a request named now answers: the model box and the status say so."""
        if self.server is None:
            return
        self.choose_model(path)
        self._show_serving(self.server)

    def _on_start_failed(self, server: ModelServer, error: BaseException) -> None:
        if server is not self.server:
            return
        self.server = None
        self._set_serving_controls(False)
        self._show_status(str(error), error=True)

    def stop(self) -> None:
        """Stop serving; the port is free when this returns."""
        server, self.server = self.server, None
        if self._start_pending is not None:  # Stop before "Auto" was known: nothing started
            self._start_pending = None
            self._set_serving_controls(False)
            self._show_status("Stopped")
        if server is None:
            return
        if server.state is not ServerState.NEW:
            server.stop()
        self._set_serving_controls(False)
        self._show_status("Stopped")
        self._show_address()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop()
        super().closeEvent(event)

    # --- display ---------------------------------------------------------------------------------
    def _set_serving_controls(self, serving: bool) -> None:
        """While serving (or loading), the choices are fixed and the button stops."""
        self.start_button.setText("Stop" if serving else "Start")
        self.start_button.setChecked(serving)
        set_icon(self.start_button, "player-stop" if serving else "player-play")
        controls = (
            self.model, self.browse, self.port, self.expose, self.cors, self.jit, self.replies,
            self.api_key,
        )  # fmt: skip
        for widget in controls:
            widget.setEnabled(not serving)

    def _show_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(ERROR_STYLE if error else "")

    def _append_log(self, line: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {line}")


def _replies_at_once(count: int) -> str:
    return "1 reply at a time" if count == 1 else f"{count} replies at once"
