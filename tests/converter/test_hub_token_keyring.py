"""The token in the system keyring: the real ``keyring`` API with a backend held in memory.

The backend is a genuine :class:`keyring.backend.KeyringBackend` (what a desktop's Secret
Service, macOS Keychain or Windows Credential Locker backend is), installed with
``keyring.set_keyring``, so the code under test goes through keyring's own dispatch.
"""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError

from converter.hub.token import (
    KEYRING_SERVICE,
    KEYRING_USER,
    forget_token,
    has_token,
    load_token,
    save_token,
    token_file,
)

SECRET = "hf_KeyringTokenThatStaysInTheKeyring42"


class MemoryKeyring(KeyringBackend):
    """A working keyring whose vault is a dict; ``locked`` makes every call fail as a locked
    desktop keyring does."""

    priority = 1.0  # type: ignore[assignment]  # a usable backend, like the system ones

    def __init__(self) -> None:
        super().__init__()
        self.vault: dict[tuple[str, str], str] = {}
        self.locked = False

    def _check(self) -> None:
        if self.locked:
            raise KeyringLocked("the keyring is locked")

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return self.vault.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        self.vault[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        if self.vault.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def test_token_goes_to_the_keyring_and_not_to_disk(vault: MemoryKeyring) -> None:
    assert save_token(f" {SECRET} ") == "keyring"
    assert vault.vault == {(KEYRING_SERVICE, KEYRING_USER): SECRET}
    assert not token_file().exists()
    assert load_token() == SECRET and has_token()
    forget_token()
    assert vault.vault == {} and load_token() is None


def test_saving_to_the_keyring_removes_an_older_token_file(
    vault: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault.locked = True
    assert save_token("hf_old_token_in_a_file") == "file"
    assert token_file().exists()
    vault.locked = False
    assert save_token(SECRET) == "keyring"
    assert not token_file().exists()
    assert load_token() == SECRET


def test_a_locked_keyring_falls_back_to_the_private_file(vault: MemoryKeyring) -> None:
    vault.locked = True
    assert save_token(SECRET) == "file"
    assert token_file().read_text(encoding="ascii") == SECRET
    assert load_token() == SECRET  # get_password fails too: the file still answers
    forget_token()  # delete fails in the keyring; the file goes anyway
    assert not token_file().exists() and load_token() is None


def test_forgetting_with_nothing_stored_is_fine(vault: MemoryKeyring) -> None:
    forget_token()
    assert load_token() is None


def test_the_fail_backend_means_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a usable system keyring (a headless Linux box), the token goes to the file."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert keyring.get_keyring().priority <= 0  # conftest keeps the user's keyring out of tests
    assert save_token(SECRET) == "file"
    assert load_token() == SECRET
