"""Per-conversation settings: system prompt, sampling and context length, as one form.

The chat screen shows the form in its side panel (:mod:`chat_settings_panel`); every change
is reported through ``changed`` and stored with the conversation at once.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from desktop.services.app_settings import Sampling
from desktop.ui.dialog_forms import explain_fields

SYSTEM_PROMPT_TIP = (
    "Instructions the model reads before the conversation, e.g. its role or the language to "
    "answer in. Base models in text completion ignore it."
)

#: The Thinking field's choices: the words shown, and :attr:`Sampling.thinking`.
THINKING_CHOICES: tuple[tuple[str, bool | None], ...] = (
    ("Model's default", None),
    ("On", True),
    ("Off", False),
)


class ConversationSettingsForm(QWidget):
    """The fields of one conversation's settings; ``changed`` fires on every edit by the user
    (not when :meth:`set_values` shows another conversation's)."""

    changed = Signal()

    def __init__(
        self, system_prompt: str, sampling: Sampling, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName("Conversation settings")
        self._showing = False  # set_values at work: no "changed"
        self.system_prompt = QPlainTextEdit(system_prompt)
        self.system_prompt.setAccessibleName("System prompt")
        self.system_prompt.setFixedHeight(110)
        self.system_prompt.setPlaceholderText("None. For example: Answer in French, briefly.")
        self.temperature = self._double(0.0, 2.0, 0.05, "Temperature")
        self.top_p = self._double(0.01, 1.0, 0.01, "Top p")
        self.min_p = self._double(0.0, 1.0, 0.01, "Min p")
        self.repeat_penalty = self._double(0.5, 2.0, 0.05, "Repeat penalty")
        self.top_k = self._int(0, 1000, "Top k")
        self.max_tokens = self._int(1, 32768, "Maximum reply tokens")
        self.context = self._int(256, 262144, "Context length")
        self.context.setSingleStep(1024)
        self.fixed_seed = QCheckBox("Fixed seed")
        self.fixed_seed.setAccessibleName("Fixed seed")
        self.seed = self._int(0, 2**31 - 1, "Seed")
        self.fixed_seed.toggled.connect(self.seed.setEnabled)
        self.thinking = QComboBox()
        self.thinking.setAccessibleName("Thinking")
        for words, value in THINKING_CHOICES:
            self.thinking.addItem(words, value)
        self.set_values(system_prompt, sampling)

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow panel: stacked
        prompt_label = QLabel("System prompt")
        prompt_label.setToolTip(SYSTEM_PROMPT_TIP)
        form.addRow(prompt_label)
        form.addRow(self.system_prompt)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top p", self.top_p)
        form.addRow("Top k", self.top_k)
        form.addRow("Min p", self.min_p)
        form.addRow("Repeat penalty", self.repeat_penalty)
        form.addRow("Max reply tokens", self.max_tokens)
        form.addRow("Context (tokens)", self.context)
        form.addRow(self.fixed_seed, self.seed)
        form.addRow("Thinking", self.thinking)
        explain_fields(form, (
            (self.system_prompt, SYSTEM_PROMPT_TIP),
            (self.temperature, "Randomness: 0 always picks the likeliest word (repeatable); "
             "higher values give more varied, less focused replies. 0.7 is a good start."),
            (self.top_p, "Only words from the most likely ones that together reach this "
             "probability are considered. 1 turns it off."),
            (self.top_k, "Only the k most likely next words are considered. 0 turns it off."),
            (self.min_p, "Words less likely than this share of the likeliest word are left out. "
             "0 turns it off."),
            (self.repeat_penalty, "Makes words already used less likely, against loops. "
             "1 turns it off."),
            (self.max_tokens, "The longest reply, in tokens (about ¾ of a word each)."),
            (self.context, "How much of the conversation the model sees, in tokens. More needs "
             "more memory. Used when a model is next loaded (a model's own load settings, "
             "if it has any, come first)."),
            (self.fixed_seed, "On: the same message gives the same reply (with the seed at the "
             "right). Off: a new random seed for every reply."),
            (self.seed, "The random seed used while Fixed seed is on."),
            (self.thinking, "For reasoning models whose chat template can switch it (Qwen 3 "
             "and others): On thinks before answering, Off answers at once (faster, often "
             "less careful). Other models ignore it."),
        ))  # fmt: skip

        self.system_prompt.textChanged.connect(self._on_edited)
        for box in (self.temperature, self.top_p, self.min_p, self.repeat_penalty):
            box.valueChanged.connect(self._on_edited)
        for spin in (self.top_k, self.max_tokens, self.context, self.seed):
            spin.valueChanged.connect(self._on_edited)
        self.fixed_seed.toggled.connect(self._on_edited)
        self.thinking.currentIndexChanged.connect(self._on_edited)

    def _double(self, lo: float, hi: float, step: float, name: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setAccessibleName(name)
        return box

    def _int(self, lo: int, hi: int, name: str) -> QSpinBox:
        box = QSpinBox()
        box.setRange(lo, hi)
        box.setAccessibleName(name)
        return box

    def _on_edited(self) -> None:
        if not self._showing:
            self.changed.emit()

    def set_values(self, system_prompt: str, sampling: Sampling) -> None:
        """Show these values without reporting a change. A field that already shows its value
        is left alone, so the text cursor of the system prompt stays where it was."""
        self._showing = True
        try:
            if self.system_prompt.toPlainText() != system_prompt:
                self.system_prompt.setPlainText(system_prompt)
            self.temperature.setValue(sampling.temperature)
            self.top_p.setValue(sampling.top_p)
            self.top_k.setValue(sampling.top_k)
            self.min_p.setValue(sampling.min_p)
            self.repeat_penalty.setValue(sampling.repeat_penalty)
            self.max_tokens.setValue(sampling.max_tokens)
            self.context.setValue(sampling.context_tokens)
            self.fixed_seed.setChecked(sampling.seed is not None)
            self.seed.setValue(sampling.seed or 0)
            self.seed.setEnabled(sampling.seed is not None)
            self.thinking.setCurrentIndex(self.thinking.findData(sampling.thinking))
        finally:
            self._showing = False

    def values(self) -> tuple[str, Sampling]:
        return self.system_prompt.toPlainText(), dataclasses.replace(
            Sampling(),
            temperature=self.temperature.value(),
            top_p=self.top_p.value(),
            top_k=self.top_k.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat_penalty.value(),
            max_tokens=self.max_tokens.value(),
            context_tokens=self.context.value(),
            seed=self.seed.value() if self.fixed_seed.isChecked() else None,
            thinking=self.thinking.currentData(),
        )
