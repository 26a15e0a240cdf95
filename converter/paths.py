"""Where Quantdesk keeps things: platform folders, overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "Quantdesk"

#: Environment variable that moves the model library (tests and portable installs use it).
LIBRARY_ENV = "QUANTDESK_LIBRARY"
#: Environment variable that moves settings and app data (tests use it).
HOME_ENV = "QUANTDESK_HOME"


def shown_path(path: Path) -> str:
    """``path`` as a person reads it: ``~/…`` inside the home folder, in full elsewhere."""
    home = Path.home()
    try:
        return str(Path("~") / path.relative_to(home))
    except ValueError:
        return str(path)


def library_dir() -> Path:
    """Folder holding the user's GGUF models."""
    override = os.environ.get(LIBRARY_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return data_dir() / "models"


def data_dir() -> Path:
    """App data (conversations database, caches)."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve() / "data"
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Settings file location."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve() / "config"
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
