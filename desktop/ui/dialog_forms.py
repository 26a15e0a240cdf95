"""The end of every settings form: a tooltip on each field and its label, then OK/Cancel."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QWidget


def finish_form(dialog: QDialog, form: QFormLayout, tips: Iterable[tuple[QWidget, str]]) -> None:
    """Explain each field where the pointer rests (its label too), and add OK and Cancel."""
    explain_fields(form, tips)
    form.addRow(ok_cancel_buttons(dialog))


def explain_fields(form: QFormLayout, tips: Iterable[tuple[QWidget, str]]) -> None:
    """A tooltip on each field of ``form`` and on its label."""
    for widget, tip in tips:
        widget.setToolTip(tip)
        label = form.labelForField(widget)
        if label is not None:
            label.setToolTip(tip)


def ok_cancel_buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons
