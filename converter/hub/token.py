"""The user's Hugging Face access token: stored safely, never shown.

The system keyring is used when the ``keyring`` package is importable and has a real backend;
otherwise the token goes to a file in the settings folder that only the user can read (mode
0600). ``HF_TOKEN`` in the environment is honoured last, as the hub's own tools do.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from converter.errors import QuantdeskError
from converter.paths import config_dir
from converter.storage import atomic_output, ensure_writable_folder

KEYRING_SERVICE = "Quantdesk"
KEYRING_USER = "huggingface-token"
TOKEN_FILE_NAME = "hf_token"


class InvalidToken(QuantdeskError):
    """The text entered as a token cannot be one."""


def token_file() -> Path:
    return config_dir() / TOKEN_FILE_NAME


def save_token(token: str) -> str:
    """Store ``token``; returns where it went (``"keyring"`` or ``"file"``) for the settings UI."""
    token = token.strip()
    if not token or any(ch.isspace() for ch in token) or not token.isascii():
        raise InvalidToken(
            "That does not look like a Hugging Face access token (it should be one word, "
            "usually starting with hf_). Copy it again from Settings → Access Tokens on the hub."
        )
    keyring = _working_keyring()
    if keyring is not None:
        try:
            keyring.set_password(KEYRING_SERVICE, KEYRING_USER, token)
        except Exception:  # any keyring failure falls back to the file
            pass
        else:
            token_file().unlink(missing_ok=True)
            return "keyring"
    _write_private_file(token_file(), token)
    return "file"


def load_token() -> str | None:
    """The stored token, else ``HF_TOKEN`` from the environment, else ``None``."""
    keyring = _working_keyring()
    if keyring is not None:
        try:
            stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
        except Exception:  # a broken keyring must not stop downloads
            stored = None
        if stored:
            return stored
    path = token_file()
    try:
        stored = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        stored = ""
    return stored or os.environ.get("HF_TOKEN") or None


def forget_token() -> None:
    """Remove the stored token from every place it may be kept."""
    keyring = _working_keyring()
    if keyring is not None:
        with contextlib.suppress(Exception):  # nothing stored there is fine
            keyring.delete_password(KEYRING_SERVICE, KEYRING_USER)
    token_file().unlink(missing_ok=True)


def has_token() -> bool:
    return load_token() is not None


def _write_private_file(path: Path, text: str) -> None:
    ensure_writable_folder(path.parent)
    with atomic_output(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)  # the umask may have removed bits, never added them; be explicit


def _working_keyring():  # the keyring module, or None
    """The ``keyring`` module if it has a usable backend (not the fail or null one)."""
    try:
        import keyring
    except ImportError:
        return None
    try:
        priority = float(keyring.get_keyring().priority)
    except Exception:  # misconfigured keyring: use the file
        return None
    return keyring if priority > 0 else None  # the "fail" and "null" backends rank <= 0
