"""Per-conversation settings: system prompt, sampling and context length."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from desktop.services.app_settings import Sampling
from desktop.ui.dialog_forms import finish_form


class ConversationSettingsDialog(QDialog):
    def __init__(
        self, system_prompt: str, sampling: Sampling, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Conversation settings")
        self.setAccessibleName("Conversation settings")
        self.system_prompt = QPlainTextEdit(system_prompt)
        self.system_prompt.setAccessibleName("System prompt")
        self.system_prompt.setFixedHeight(90)
        self.temperature = self._double(0.0, 2.0, 0.05, sampling.temperature, "Temperature")
        self.top_p = self._double(0.01, 1.0, 0.01, sampling.top_p, "Top p")
        self.min_p = self._double(0.0, 1.0, 0.01, sampling.min_p, "Min p")
        self.repeat_penalty = self._double(
            0.5, 2.0, 0.05, sampling.repeat_penalty, "Repeat penalty"
        )
        self.top_k = self._int(0, 1000, sampling.top_k, "Top k")
        self.max_tokens = self._int(1, 32768, sampling.max_tokens, "Maximum reply tokens")
        self.context = self._int(256, 262144, sampling.context_tokens, "Context length")
        self.context.setSingleStep(1024)
        self.fixed_seed = QCheckBox("Fixed seed (repeatable replies)")
        self.fixed_seed.setAccessibleName("Fixed seed")
        self.seed = self._int(0, 2**31 - 1, sampling.seed or 0, "Seed")
        self.fixed_seed.setChecked(sampling.seed is not None)
        self.seed.setEnabled(sampling.seed is not None)
        self.fixed_seed.toggled.connect(self.seed.setEnabled)

        form = QFormLayout(self)
        form.addRow("System prompt", self.system_prompt)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top p", self.top_p)
        form.addRow("Top k", self.top_k)
        form.addRow("Min p", self.min_p)
        form.addRow("Repeat penalty", self.repeat_penalty)
        form.addRow("Max reply tokens", self.max_tokens)
        form.addRow("Context (tokens)", self.context)
        form.addRow(self.fixed_seed, self.seed)
        finish_form(self, form, (
            (self.system_prompt, "Instructions the model reads before the conversation, e.g. "
             "its role or the language to answer in. Base models in text completion ignore it."),
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
             "more memory; the model loads again when this changes."),
            (self.fixed_seed, "On: the same message gives the same reply (with the seed at the "
             "right). Off: a new random seed for every reply."),
            (self.seed, "The random seed used while Fixed seed is on."),
        ))  # fmt: skip

    def _double(self, lo: float, hi: float, step: float, value: float, name: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setValue(value)
        box.setAccessibleName(name)
        return box

    def _int(self, lo: int, hi: int, value: int, name: str) -> QSpinBox:
        box = QSpinBox()
        box.setRange(lo, hi)
        box.setValue(value)
        box.setAccessibleName(name)
        return box

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
        )
