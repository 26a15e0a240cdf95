"""Folders are shown as a person reads them: ``~/…`` inside the home folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from converter.paths import shown_path


def test_a_folder_in_home_is_shown_from_the_tilde(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert shown_path(tmp_path / "Models" / "gemma") == str(Path("~", "Models", "gemma"))
    elsewhere = tmp_path.parent / "shared-models"
    assert shown_path(elsewhere) == str(elsewhere)
