"""Enter or forget the Hugging Face access token (needed for gated and private models).

The token is typed into a password field, stored by :mod:`converter.hub.token` (system keyring,
else a private file) and never displayed again: only its last four characters are shown, so the
user can tell which token is in use. Nothing here logs or prints it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from converter.errors import QuantdeskError
from converter.hub.token import forget_token, load_token, save_token

TOKENS_PAGE = "https://huggingface.co/settings/tokens"
_WHERE = {"keyring": "the system keyring", "file": "a file only your user account can read"}


def masked(token: str) -> str:
    """Enough of a token to recognise it, never enough to use it."""
    return f"…{token[-4:]}" if len(token) > 12 else "…"


class TokenDialog(QDialog):
    token_changed = Signal()

    def __init__(self, reason: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hugging Face token")
        self.setAccessibleName("Hugging Face token")
        self.setMinimumWidth(460)
        intro = QLabel(
            "Gated and private models need a Hugging Face access token. Create a read token at "
            f'<a href="{TOKENS_PAGE}">{TOKENS_PAGE}</a>, accept the model\'s licence on its '
            "page, then paste the token here."
        )
        intro.setWordWrap(True)
        intro.setOpenExternalLinks(True)
        self.reason = QLabel(reason)
        self.reason.setObjectName("warning")
        self.reason.setWordWrap(True)
        self.reason.setVisible(bool(reason))
        self.current = QLabel()
        self.current.setAccessibleName("Stored token")
        self.entry = QLineEdit()
        self.entry.setAccessibleName("New token")
        self.entry.setEchoMode(QLineEdit.EchoMode.Password)
        self.entry.setPlaceholderText("hf_…")
        self.status = QLabel()
        self.status.setObjectName("hint")
        self.status.setAccessibleName("Token status")
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("Save token", QDialogButtonBox.ButtonRole.ApplyRole)
        self.forget_button = QPushButton("Forget token")
        buttons.addButton(self.forget_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(self.save)
        self.forget_button.clicked.connect(self.forget)
        self.entry.returnPressed.connect(self.save)
        self.entry.textChanged.connect(lambda text: self.save_button.setEnabled(bool(text.strip())))
        layout = QVBoxLayout(self)
        for widget in (intro, self.reason, self.current, self.entry, self.status, buttons):
            layout.addWidget(widget)
        self._show_current()

    def _show_current(self) -> None:
        stored = load_token()
        self.current.setText(
            f"A token is in use (ending {masked(stored)})." if stored else "No token is stored."
        )
        self.forget_button.setEnabled(stored is not None)
        self.save_button.setEnabled(bool(self.entry.text().strip()))

    def save(self) -> None:
        text = self.entry.text()
        if not text.strip():
            return
        try:
            where = save_token(text)
        except QuantdeskError as exc:
            self.status.setText(str(exc))
            return
        self.entry.clear()
        self.status.setText(f"Saved in {_WHERE.get(where, where)}. Try the download again.")
        self._show_current()
        self.token_changed.emit()

    def forget(self) -> None:
        forget_token()
        self.status.setText("The token was removed from this computer.")
        self._show_current()
        self.token_changed.emit()
