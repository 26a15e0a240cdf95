"""Token storage, and proof that a token never shows up in output, errors or logs."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from converter.hub import token as token_store
from converter.hub.token import InvalidToken, forget_token, load_token, save_token, token_file
from desktop.cli import main
from tests.support.hub_server import FakeHub, FakeRepo, serve

SECRET = "hf_TestTokenThatMustNeverBePrinted987"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    repo = FakeRepo("meta/gated-GGUF", {"gated-Q4_K_M.gguf": b"GGUF" + b"\0" * 2000}, gated=True)
    hub = serve(monkeypatch, repo)
    yield hub
    hub.stop()


def test_token_file_is_private_and_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(token_store, "_working_keyring", lambda: None)
    assert load_token() is None
    assert save_token(f"  {SECRET}\n") == "file"
    assert stat.S_IMODE(token_file().stat().st_mode) == 0o600
    assert load_token() == SECRET
    forget_token()
    assert load_token() is None and not token_file().exists()
    with pytest.raises(InvalidToken) as bad:
        save_token("two words")
    assert "two words" not in str(bad.value)


def test_environment_token_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_store, "_working_keyring", lambda: None)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    assert load_token() == SECRET


def test_token_never_appears_in_output_errors_or_logs(
    hub: FakeHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(token_store, "_working_keyring", lambda: None)
    save_token(SECRET)
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    # Refused: the token has no access yet. The message says what to do, not the token.
    assert main(["download", "meta/gated-GGUF", "--out", str(out)]) == 1
    refused = capsys.readouterr()
    assert "accept the licence" in refused.err
    # Accepted once the user has access.
    hub.accepted_tokens.add(SECRET)
    assert main(["download", "meta/gated-GGUF", "--out", str(out), "--json"]) == 0
    done = capsys.readouterr()
    assert (out / "gated-Q4_K_M.gguf").is_file()
    assert any(r.authorization == f"Bearer {SECRET}" for r in hub.requests)  # it was sent
    everything = refused.out + refused.err + done.out + done.err + caplog.text
    assert SECRET not in everything
    from converter.hub.hub_session import hub_context

    assert SECRET not in repr(hub_context())


def test_gated_refusal_on_the_command_line_names_hf_token_and_the_hub_in_use(
    hub: FakeHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(token_store, "_working_keyring", lambda: None)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["download", "meta/gated-GGUF", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "HF_TOKEN" in err
    assert f"{hub.endpoint}/meta/gated-GGUF" in err  # the configured hub, not huggingface.co
    assert "huggingface.co" not in err
