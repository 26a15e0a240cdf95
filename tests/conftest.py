"""Shared test set-up: isolated app folders, the shared fixtures, and leak checks."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

# Session fixtures of the real trained Gemma 3 270M, for every test module to use.
from tests.support.real_gemma import real_gemma_checkpoint, real_gemma_gguf  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Real tokenizers and chat templates, kept beside the repository (see their README).
SHARED_FIXTURES = Path(
    os.environ.get("QUANTDESK_SHARED_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures")
)
TOKENIZER_FIXTURES = SHARED_FIXTURES / "tokenizers"
CHAT_TEMPLATE_FIXTURES = SHARED_FIXTURES / "chat_templates"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests never read or write the user's real keyring; keyring tests install their own backend.
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"


@pytest.fixture(autouse=True)
def isolated_app_folders(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point settings, data and the library at a fresh folder so tests never touch the user's.

    The folder goes when the test ends: models downloaded or converted into the library would
    otherwise add up to gigabytes over a run.
    """
    home = tmp_path_factory.mktemp("quantdesk-home")
    monkeypatch.setenv("QUANTDESK_HOME", str(home))
    monkeypatch.setenv("QUANTDESK_LIBRARY", str(home / "library"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _is_multiprocessing_helper(process: psutil.Process) -> bool:
    """multiprocessing's resource tracker lives as long as the test session, by design."""
    try:
        return any("resource_tracker" in part for part in process.cmdline())
    except psutil.Error:
        return True


def _live_children() -> list[psutil.Process]:
    children = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and not _is_multiprocessing_helper(child):
                children.append(child)
        except psutil.Error:
            continue
    return children


@pytest.fixture(autouse=True)
def no_leaked_child_processes():
    """A test must not leave a worker process running behind it."""
    before = {p.pid for p in _live_children()}
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked = [p for p in _live_children() if p.pid not in before]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for p in leaked:
        with contextlib.suppress(psutil.Error):
            p.kill()
    assert not leaked, f"child processes outlived the test: {[p.cmdline() for p in leaked]}"
