"""The end of every settings form: a tooltip on each field and its label, then OK/Cancel."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QWidget


def finish_form(dialog: QDialog, form: QFormLayout, tips: Iterable[tuple[QWidget, str]]) -> None:
    """Explain each field where the pointer rests (its label too), and add OK and Cancel."""
    for widget, tip in tips:
        widget.setToolTip(tip)
        label = form.labelForField(widget)
        if label is not None:
            label.setToolTip(tip)
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
