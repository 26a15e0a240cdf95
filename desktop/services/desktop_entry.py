"""The Linux menu entry: ``quantdesk --install-desktop-entry`` / ``--uninstall-desktop-entry``.

Installs, for the current user only (no root), a ``.desktop`` file in
``$XDG_DATA_HOME/applications`` and the icon in ``$XDG_DATA_HOME/icons/hicolor``, following
the freedesktop.org Desktop Entry and Icon Theme specifications. The entry starts whatever
is running this code: the bundle's executable in a frozen build, else the ``quantdesk-app``
script of this environment. Uninstall removes exactly the files install writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from converter.errors import OutputError, QuantdeskError
from converter.resources import resource_path
from converter.storage import atomic_output, ensure_writable_folder

#: File name of the entry; also the icon name the entry refers to.
APP_ID = "quantdesk"
#: Template in resources/ with @EXEC@ and @TRYEXEC@ placeholders.
TEMPLATE_NAME = "quantdesk.desktop"
#: Icon theme folder (under hicolor) → icon file in resources/icons.
ICON_FILES: tuple[tuple[str, str], ...] = (
    ("64x64/apps", "quantdesk-64.png"),
    ("256x256/apps", "quantdesk-256.png"),
    ("scalable/apps", "quantdesk.svg"),
)
#: Characters that force an Exec argument into double quotes (Desktop Entry spec, "Exec key").
_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")
#: Characters escaped with a backslash inside a double-quoted Exec argument.
_ESCAPED_IN_QUOTES = frozenset('"`$\\')


@dataclass(frozen=True, slots=True)
class DesktopEntryFiles:
    """Where the entry and its icons go (or went) for one data folder."""

    entry: Path
    icons: tuple[Path, ...]

    @property
    def all(self) -> tuple[Path, ...]:
        return (self.entry, *self.icons)


def xdg_data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` when unset or relative (as the spec says)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def planned_files(data_home: Path) -> DesktopEntryFiles:
    hicolor = data_home / "icons" / "hicolor"
    return DesktopEntryFiles(
        entry=data_home / "applications" / f"{APP_ID}.desktop",
        icons=tuple(
            hicolor / folder / f"{APP_ID}{Path(name).suffix}" for folder, name in ICON_FILES
        ),
    )


def launch_command() -> tuple[str, ...]:
    """The command that opens the app from this installation."""
    if getattr(sys, "frozen", False):
        return (sys.executable,)
    script = Path(sys.executable).parent / "quantdesk-app"
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    found = shutil.which("quantdesk-app")
    if found:
        return (found,)
    return (sys.executable, "-m", "desktop.cli", "app")


def _escape_string(value: str) -> str:
    """The spec's escapes for any string value (before Exec quoting is read)."""
    if any(c in value for c in "\n\r\t"):
        raise QuantdeskError(
            f"Cannot write a desktop entry for a path with a line break or tab in it: {value!r}."
        )
    return value.replace("\\", "\\\\")


def exec_argument(argument: str) -> str:
    """One Exec argument, quoted when needed; ``%`` doubled so it is not a field code."""
    argument = argument.replace("%", "%%")
    if argument and not any(c in _RESERVED for c in argument):
        return argument
    inner = "".join(f"\\{c}" if c in _ESCAPED_IN_QUOTES else c for c in argument)
    return f'"{inner}"'


def exec_line(command: Sequence[str]) -> str:
    """The value of the Exec key that runs ``command`` (already string-escaped)."""
    return _escape_string(" ".join(exec_argument(a) for a in command))


def render_entry(command: Sequence[str]) -> str:
    """The .desktop file text: the template with this installation's command filled in."""
    template = resource_path(TEMPLATE_NAME)
    try:
        text = template.read_text(encoding="utf-8")
    except OSError as exc:
        raise QuantdeskError(
            f"The desktop entry template {template} is missing; reinstall Quantdesk."
        ) from exc
    return text.replace("@EXEC@", exec_line(command)).replace(
        "@TRYEXEC@", _escape_string(command[0])
    )


def _require_linux() -> None:
    if not sys.platform.startswith("linux"):
        raise QuantdeskError(
            "Desktop entries are for Linux desktops. On macOS drag Quantdesk.app to "
            "Applications; on Windows run packaging/windows/create_shortcut.ps1."
        )


def _write(path: Path, data: bytes) -> None:
    ensure_writable_folder(path.parent)
    try:
        with atomic_output(path) as tmp:
            tmp.write_bytes(data)
            tmp.chmod(0o644)
    except OSError as exc:
        raise OutputError(f"Cannot write {path}: {exc.strerror}.") from exc


def _refresh_icon_cache(data_home: Path) -> None:
    """Update an existing GTK icon cache: a stale one hides a new icon (or keeps a removed one).

    Without a cache file there is nothing to refresh, and desktops scan the folders directly.
    """
    hicolor = data_home / "icons" / "hicolor"
    tool = shutil.which("gtk-update-icon-cache")
    if tool and (hicolor / "icon-theme.cache").is_file():
        subprocess.run(
            [tool, "--force", "--ignore-theme-index", "--quiet", str(hicolor)],
            check=False,
            capture_output=True,
        )


def install_desktop_entry(
    data_home: Path | None = None, command: Sequence[str] | None = None
) -> DesktopEntryFiles:
    """Write the entry and icons (replacing an older install); returns what was written."""
    _require_linux()
    home = xdg_data_home() if data_home is None else data_home
    files = planned_files(home)
    entry_text = render_entry(launch_command() if command is None else tuple(command))
    sources = [resource_path("icons", name) for _folder, name in ICON_FILES]
    for source in sources:
        if not source.is_file():
            raise QuantdeskError(f"The app icon {source} is missing; reinstall Quantdesk.")
    for source, target in zip(sources, files.icons, strict=True):
        _write(target, source.read_bytes())
    _write(files.entry, entry_text.encode("utf-8"))
    _refresh_icon_cache(home)
    return files


def uninstall_desktop_entry(data_home: Path | None = None) -> tuple[Path, ...]:
    """Remove the entry and icons; returns the files that existed. Safe to run twice."""
    _require_linux()
    home = xdg_data_home() if data_home is None else data_home
    removed = []
    for path in planned_files(home).all:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise OutputError(f"Cannot remove {path}: {exc.strerror}.") from exc
        removed.append(path)
    _refresh_icon_cache(home)
    return tuple(removed)
