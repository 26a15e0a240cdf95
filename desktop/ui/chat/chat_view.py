"""The chat screen: ties the conversation store, the transcript and the worker session.

Two modes: chat (the model's own chat template formats the conversation) and text completion
(the conversation's text is continued as plain text, the way /v1/completions does it). A model
without a chat template, a base model, starts in text completion, labelled above the
transcript; the switch in the model bar changes the mode for the loaded model.

The conversation's settings sit in a panel at the right (:mod:`chat_settings_panel`); a second
conversation can be shown beside the first (:mod:`split_view`), and the panel then shows the
settings of the pane last worked in (the one that last had the keyboard focus). Each pane's
messages are worked on by its own :class:`~desktop.ui.chat.message_edits.MessageEdits` (reply,
regenerate, continue, edit, insert) and its reply streams through its own
:class:`~desktop.ui.chat.reply_stream.ReplyStream`.

Nothing typed is lost: the user's message is stored before it is sent, the reply is stored as
it streams and again when it ends, also when it fails.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QApplication, QCheckBox, QLabel, QSplitter, QVBoxLayout, QWidget

from converter.errors import QuantdeskError
from desktop.services.app_settings import Sampling, Settings
from desktop.services.conversations import ConversationStore
from desktop.services.model_load_defaults import ModelDefaultsStore, ModelLoadDefaults
from desktop.ui.chat.chat_session import ChatSession, SessionState
from desktop.ui.chat.chat_settings_panel import ChatSettingsPanel
from desktop.ui.chat.composer import Composer
from desktop.ui.chat.conversation_list import ConversationList
from desktop.ui.chat.load_settings_dialog import LoadSettingsDialog
from desktop.ui.chat.message_edits import MessageEdits
from desktop.ui.chat.model_bar import ModelBar
from desktop.ui.chat.reply_stream import ReplyStream
from desktop.ui.chat.split_pane import WAITING_NOTE
from desktop.ui.chat.split_view import BESIDE, MAIN, SplitView
from desktop.ui.chat.transcript import Transcript

if TYPE_CHECKING:  # the worker package loads llama.cpp: not while the window starts
    from desktop.engine.worker.results import LoadInfo, ReplyStats

CHAT_PLACEHOLDER = "Type a message. Enter sends, Shift+Enter adds a line, Esc stops."
TEXT_PLACEHOLDER = "Type the start of a text; the model continues it. Enter sends, Esc stops."


class ChatView(QWidget):
    model_loaded = Signal(object)

    def __init__(
        self, store: ConversationStore, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName("Chat")
        self.store, self.settings = store, settings
        self.session = ChatSession(self)
        self.conversation_id: int | None = None
        #: The pane whose conversation the settings panel shows (the last one focused).
        self.panel_side = MAIN
        #: Library files that cannot be loaded, with the reason (kept up to date by the window).
        self.broken_files: dict[str, str] = {}

        #: Load settings remembered per model file; a one-time choice for the next load.
        self.load_defaults = ModelDefaultsStore()
        self._load_once: tuple[str, ModelLoadDefaults] | None = None

        self.conversations = ConversationList(store)
        self.model_bar = ModelBar()
        self.model_bar.load_defaults = self.load_defaults
        self.transcript = Transcript()
        self.composer = Composer()
        self.text_completion = False
        self.mode_switch = QCheckBox("Text completion")
        self.mode_switch.setAccessibleName("Text completion")
        self.mode_switch.setToolTip(
            "On: the model continues your text, as a base model expects. Off: the model "
            "answers as a chat assistant through its chat template."
        )
        self.mode_switch.setEnabled(False)
        self.mode_switch.toggled.connect(self._on_mode_switched)
        self.model_bar.add_control(self.mode_switch)
        self.mode_banner = QLabel()
        self.mode_banner.setObjectName("modeBanner")
        self.mode_banner.setAccessibleName("Mode")
        self.mode_banner.setWordWrap(True)
        self.mode_banner.hide()
        right = QWidget()
        column = QVBoxLayout(right)
        column.addWidget(self.model_bar)
        column.addWidget(self.mode_banner)
        main_pane = self._main_pane = QWidget()
        main_column = QVBoxLayout(main_pane)
        main_column.setContentsMargins(0, 0, 0, 0)
        main_column.addWidget(self.transcript, 1)
        main_column.addWidget(self.composer)
        #: The split view: a second conversation beside (its pane, actions, whose turn it is).
        self.split = SplitView(self, self)
        self.split_pane, self.turns = self.split.pane, self.split.turns
        #: The main pane's reply as it streams, and the work on its messages.
        self.stream = ReplyStream(
            self.session,
            store,
            self.transcript,
            self.composer,
            owner=MAIN,
            parent=self,
        )
        self.edits = MessageEdits(self)
        panes = QSplitter(Qt.Orientation.Horizontal)
        panes.addWidget(main_pane)
        panes.addWidget(self.split_pane)
        panes.setChildrenCollapsible(False)
        column.addWidget(panes, 1)
        self.settings_panel = ChatSettingsPanel()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.conversations)
        splitter.addWidget(right)
        splitter.addWidget(self.settings_panel)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(2, False)
        splitter.setSizes([240, 900, 0])
        QVBoxLayout(self).addWidget(splitter)
        self._splitter = splitter
        self.settings_panel.attach_button(self.model_bar.settings_button)
        self.settings_panel.toggle_action.toggled.connect(
            lambda shown: shown and QTimer.singleShot(0, self._give_panel_room)
        )
        self.setTabOrder(self.composer.edit, self.composer.send_button)
        self._update_empty_text()
        self.refresh_settings_panel()

        self.conversations.selected.connect(self.open_conversation)
        self.conversations.new_requested.connect(self.new_conversation)
        self.conversations.deleted.connect(self._on_conversation_deleted)
        self.conversations.renamed.connect(self._on_conversation_renamed)
        self.model_bar.load_requested.connect(self._on_load_requested)
        self.model_bar.eject_requested.connect(self.eject)
        self.settings_panel.form.changed.connect(self._on_settings_edited)
        self.model_bar.load_options_requested.connect(self.open_load_settings)
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.stop)
        s = self.session
        s.state_changed.connect(self._on_state_changed)
        s.load_progress.connect(self.model_bar.show_loading)
        s.loaded.connect(self._on_loaded)
        s.load_failed.connect(lambda exc: self.model_bar.show_error(str(exc)))
        s.unloaded.connect(self._on_unloaded)
        self.split.route_replies()  # tokens and results to the pane whose reply it is
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._on_focus_changed)

    # model ---------------------------------------------------------------------------------
    def load_model(self, path: str, *, insist: bool = False) -> None:
        if self._refuse_broken(path):
            return
        self.model_bar.select(path)
        self.model_bar.request_load(path, insist=insist)

    def _refuse_broken(self, path: str) -> bool:
        """A file the library knows is broken is not loaded: the loaded model stays."""
        reason = self.broken_files.get(path)
        if reason is None:
            return False
        kept = self.session.load_info
        stays = f" {Path(kept.path).name} stays loaded." if kept is not None else ""
        self.model_bar.status.setText(f"{Path(path).name} cannot be loaded: {reason}.{stays}")
        if kept is not None:
            self.model_bar.select(kept.path)
        return True

    def _on_load_requested(self, path: str) -> None:
        if self.session.busy or self._refuse_broken(path):
            return
        from desktop.engine.worker import LoadSettings  # imported at first use, not at start-up

        chosen = self.load_settings_for(path)
        load_settings = LoadSettings(
            ctx_tokens=chosen.ctx_tokens,
            kv_type=chosen.kv_type,
            gpu_layers=chosen.gpu_layers,
            threads=chosen.threads or None,
            flash_attention=chosen.flash_attention,
            parallel=chosen.parallel,
            read_weights_in=chosen.read_weights_in,
        )
        self._load_once = None
        self.model_bar.show_loading(0.0)
        self.session.load(Path(path), load_settings)

    def load_settings_for(self, path: str) -> ModelLoadDefaults:
        """What ``path`` is loaded with: a one-time choice, else the settings remembered for
        that file, else the conversation's context with the app-wide KV cache and threads."""
        if self._load_once is not None and self._load_once[0] == path:
            return self._load_once[1]
        remembered = self.load_defaults.get(path)
        if remembered is not None:
            return remembered
        return ModelLoadDefaults(
            ctx_tokens=self._sampling().context_tokens,
            kv_type=self.settings.kv_type,
            threads=self.settings.threads,
        )

    def open_load_settings(self) -> None:
        """Ask for the chosen model's load settings, then load it with them."""
        path = self.model_bar.current_path()
        if not path or self.session.busy:
            return
        dialog = LoadSettingsDialog(
            Path(path).name,
            self.load_settings_for(path),
            remembered=self.load_defaults.get(path) is not None,
            parent=self,
        )
        if dialog.exec():
            self.load_with(path, dialog.values(), remember=dialog.remember.isChecked())

    def load_with(self, path: str, chosen: ModelLoadDefaults, *, remember: bool) -> None:
        """Load ``path`` with ``chosen``; remembered for the file, or for this load only."""
        if remember:
            self.load_defaults.remember(path, chosen)
        else:
            self.load_defaults.forget(path)
            self._load_once = (path, chosen)
        self.load_model(path)

    def reload_for_replies_at_once(self, count: int) -> None:
        """Load the loaded model again, its settings unchanged but ``count`` replies at once
        (kept for the file if its settings were remembered, else for this load only)."""
        path = self.session.model_path
        if path is None or self.session.state is not SessionState.READY:
            return
        chosen = dataclasses.replace(self.load_settings_for(str(path)), parallel=count)
        self.load_with(str(path), chosen, remember=self.load_defaults.get(path) is not None)

    def _on_loaded(self, info: LoadInfo) -> None:
        has_template = info.chat_template.from_model
        self.mode_switch.setEnabled(not info.embedding_only)
        self.mode_switch.blockSignals(True)
        self.mode_switch.setChecked(not has_template)
        self.mode_switch.blockSignals(False)
        self._set_text_completion(not has_template)
        self.model_bar.show_loaded(info)
        for stream in (self.stream, self.split.stream):
            stream.refresh_context()  # the share of the new context
        self.model_loaded.emit(info)

    def eject(self) -> None:
        """Unload the model and free its memory; the conversation stays open."""
        if self.session.state is SessionState.READY:
            self.model_bar.status.setText("Ejecting the model…")
            self.session.unload()

    def _on_unloaded(self) -> None:
        name = self.session.model_path.name if self.session.model_path else "The model"
        self.model_bar.show_ejected(name)
        for stream in (self.stream, self.split.stream):
            stream.refresh_context()  # no model: no context to fill
        self.mode_switch.setEnabled(False)
        self._update_empty_text()

    def _on_mode_switched(self, on: bool) -> None:
        self._set_text_completion(on)
        if self.session.load_info is not None:
            self.model_bar.show_loaded(self.session.load_info)

    def _set_text_completion(self, on: bool) -> None:
        self.text_completion = on
        self.model_bar.text_completion = on
        info = self.session.load_info
        name = Path(info.path).name if info is not None else "The model"
        embedding_only = info is not None and info.embedding_only
        if embedding_only:
            self.mode_banner.setText(
                f"<b>Embedding model</b> · {name} turns text into vectors and writes no "
                "replies. Load a chat model to chat; serve this one from the Local API tab "
                "for embeddings (/v1/embeddings)."
            )
        else:
            from_template = info is None or info.chat_template.from_model
            why = (
                "Switched on"
                if not on or from_template
                else f"{name} has no chat template (it is a base model, not a chat one)"
            )
            self.mode_banner.setText(
                f"<b>Text completion</b> · {why}: the reply continues your text instead of "
                "answering it. Write the start of a sentence, a list or a story."
            )
        self.mode_banner.setVisible(on or embedding_only)
        for composer in (self.composer, self.split_pane.composer):
            composer.edit.setPlaceholderText(TEXT_PLACEHOLDER if on else CHAT_PLACEHOLDER)
        self._update_empty_text()

    def _update_empty_text(self) -> None:
        info = self.session.load_info
        if info is None:
            text = (
                "Choose a model in the bar above (Ctrl+L) and press Load, or get one first: "
                "Library → Import GGUF, the Hub tab, or Convert in the toolbar."
            )
        elif info.embedding_only:
            text = f"{Path(info.path).name} is an embedding model: it writes no replies."
        elif self.text_completion:
            text = f"Type the start of a text below; {Path(info.path).name} continues it."
        else:
            text = f"Type a message below and press Enter; {Path(info.path).name} answers here."
        self.transcript.set_empty_text(text)

    # conversations -------------------------------------------------------------------------
    def new_conversation(self) -> int:
        self.conversation_id = self.store.create(
            model_path=self.model_bar.current_path() or "",
            system_prompt=self.settings.system_prompt,
            settings=self.settings.sampling.to_json(),
        )
        self.conversations.select(self.conversation_id)
        self.transcript.clear()
        self.stream.show_context(None)
        self.refresh_settings_panel()
        return self.conversation_id

    def open_conversation(self, conversation_id: int) -> None:
        self.stop()
        if conversation_id == self.split_pane.conversation_id and self.split_pane.isVisibleTo(self):
            self.split.close()  # one conversation is open in one pane
        conversation = self.store.get(conversation_id)
        self.conversation_id = conversation_id
        self.stream.let_go()  # a reply still ending is stored, not shown here
        self.edits.show(conversation)
        self.refresh_settings_panel()
        if conversation.model_path and not self.session.load_info:
            self.model_bar.select(conversation.model_path)

    def _on_conversation_deleted(self, conversation_id: int) -> None:
        if conversation_id == self.conversation_id:
            self.conversation_id = None
            self.stream.let_go()
            self.transcript.clear()
            self.stream.show_context(None)
            self.refresh_settings_panel()
        if conversation_id == self.split_pane.conversation_id:
            self.split.close()
            self.split_pane.conversation_id = None

    def _on_conversation_renamed(self, conversation_id: int) -> None:
        """The settings panel and the pane beside name the conversation by its new title."""
        if conversation_id == self.panel_conversation():
            self.refresh_settings_panel()
        if conversation_id == self.split_pane.conversation_id:
            self.split_pane.title.setText(self.store.get(conversation_id).title)

    def _sampling(self) -> Sampling:
        if self.conversation_id is None:
            return self.settings.sampling
        return Sampling.from_json(self.store.get(self.conversation_id).settings)

    # the settings panel --------------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.settings_panel.follow_width(event.size().width())

    def _give_panel_room(self) -> None:
        """A panel just shown gets its width from the chat column (a splitter gives a child
        it shows again only its minimum)."""
        sizes = self._splitter.sizes()
        want = self.settings_panel.sizeHint().width()
        if len(sizes) == 3 and sizes[2] < want and sizes[1] > 2 * want:
            self._splitter.setSizes([sizes[0], sizes[1] + sizes[2] - want, want])

    def _on_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        """The panel follows the pane the user works in (the panel itself changes nothing)."""
        if new is None:
            return
        if self.split_pane.isAncestorOf(new):
            side = BESIDE
        elif self._main_pane.isAncestorOf(new):
            side = MAIN
        else:
            return
        if side != self.panel_side:
            self.panel_side = side
            self.refresh_settings_panel()

    def panel_conversation(self) -> int | None:
        """The conversation the settings panel shows: the focused pane's."""
        if self.panel_side == BESIDE and self.split_pane.isVisibleTo(self):
            return self.split_pane.conversation_id
        return self.conversation_id

    def refresh_settings_panel(self) -> None:
        """The panel shows the conversation's settings (the app's, when none is open)."""
        cid = self.panel_conversation()
        if cid is None:
            self.settings_panel.show_conversation(
                None, self.settings.system_prompt, self.settings.sampling
            )
            return
        shown = self.store.get(cid)
        sampling = Sampling.from_json(shown.settings)
        self.settings_panel.show_conversation(
            shown.title, shown.system_prompt, sampling, beside=cid != self.conversation_id
        )

    def _on_settings_edited(self) -> None:
        """Store the panel's values with its conversation (a new one when none is open)."""
        system_prompt, sampling = self.settings_panel.form.values()
        cid = self.panel_conversation()
        if cid is None:
            cid = self.new_conversation()
        self.store.update(cid, system_prompt=system_prompt, settings=sampling.to_json())
        self.refresh_settings_panel()

    # sending -------------------------------------------------------------------------------
    def send(self, text: str) -> None:
        """Store the message, then ask the model for a reply."""
        waits = self.turns.busy_elsewhere(MAIN)  # the pane beside's reply runs: this one waits
        if (not self.session.can_reply(MAIN) and not waits) or self.turns.waiting(MAIN):
            return
        if self.conversation_id is None:
            self.new_conversation()
        cid = self.conversation_id
        assert cid is not None
        if not self.store.get(cid).messages:
            self.store.rename(cid, text.splitlines()[0][:60])
            self.conversations.refresh()
            self.refresh_settings_panel()  # the panel names the conversation
        self.store.append(cid, "user", text)
        position = len(self.store.get(cid).messages) - 1
        self.edits.add("user", text, position)
        if waits:
            self.turns.wait(
                MAIN, lambda: self.edits.start_reply() if self.conversation_id == cid else None
            )
            self.composer.speed_label.setText(WAITING_NOTE)
            self._on_state_changed(self.session.state)
        else:
            self.edits.start_reply()

    def stop(self) -> None:
        """Stop this pane's reply (not the one the pane beside is getting)."""
        self.session.stop(MAIN)

    # the main pane, as its message edits see it ----------------------------------------------
    def may_reply(self) -> bool:
        return self.session.can_reply(MAIN) and not self.turns.waiting(MAIN)

    def replying(self) -> bool:
        return self.turns.running(MAIN) or self.turns.waiting(MAIN)

    def busy_elsewhere(self) -> bool:
        return self.turns.busy_elsewhere(MAIN)

    def show_status(self, text: str) -> None:
        self.model_bar.status.setText(text)

    def refresh(self) -> None:
        self._on_state_changed(self.session.state)

    # the session's replies to the main pane (routed here by the split) ----------------------
    def _on_token(self, piece: str) -> None:
        self.stream.on_token(piece)

    def _on_reply_done(self, stats: ReplyStats, left_out: int) -> None:
        self.stream.done(stats, left_out)

    def _on_reply_failed(self, exc: BaseException) -> None:
        self.stream.failed()
        text = str(exc)
        if self.session.state is SessionState.CRASHED and not isinstance(exc, QuantdeskError):
            text = f"The model worker stopped unexpectedly ({exc or type(exc).__name__})."
        error = self.transcript.add("error", text)
        error.reload_button.setVisible(self.session.state is SessionState.CRASHED)
        error.reload_requested.connect(self._on_reload_requested)

    def _on_reload_requested(self) -> None:
        if self.session.state in (SessionState.CRASHED, SessionState.EMPTY):
            self.model_bar.show_loading(0.0)
            self.session.reload()

    def _on_state_changed(self, state: SessionState) -> None:
        can_send = state in (SessionState.READY, SessionState.GENERATING)
        self.composer.set_generating(
            self.session.replying(MAIN), can_send=can_send and not self.turns.waiting(MAIN)
        )
        self.split.update_controls(state)
        self.edits.update_buttons()
        self._update_empty_text()
        if state is SessionState.CRASHED:
            self.model_bar.show_error("The worker stopped; press Reload model to start again.")
