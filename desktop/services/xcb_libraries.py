"""Before Qt starts on Linux/X11: are the system libraries its ``xcb`` platform plugin needs there?

Qt's wheels bundle Qt itself but not the X11 client libraries. When one is missing (on a fresh
Debian or Ubuntu it is usually ``libxcb-cursor0``) Qt prints "could not load the Qt platform
plugin xcb" and aborts, which tells a person nothing about what to install. This module asks
the dynamic loader for each library the plugin links against (``dlopen``, the same search Qt's
own load does) and turns the missing ones into the one install command for the machine's
package manager. Plain Python: it must run before PySide6 is imported.

The table is the plugin's and ``libQt6XcbQpa``'s ``DT_NEEDED`` entries (``readelf -d``) minus
the C/C++ runtime, with the package that ships each library on Debian/Ubuntu (apt), Fedora
(dnf) and Arch (pacman).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

#: Exit status of ``quantdesk app`` when the window cannot open because libraries are missing.
MISSING_LIBRARIES_EXIT = 3


@dataclass(frozen=True, slots=True)
class SystemLibrary:
    soname: str
    apt: str
    dnf: str
    pacman: str


# soname                      apt (Debian/Ubuntu)     dnf (Fedora)          pacman (Arch)
XCB_PLUGIN_LIBRARIES: tuple[SystemLibrary, ...] = (
    SystemLibrary("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    SystemLibrary("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    SystemLibrary("libxcb-util.so.1", "libxcb-util1", "xcb-util", "xcb-util"),
    SystemLibrary("libxcb-image.so.0", "libxcb-image0", "xcb-util-image", "xcb-util-image"),
    SystemLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    SystemLibrary(
        "libxcb-render-util.so.0",
        "libxcb-render-util0",
        "xcb-util-renderutil",
        "xcb-util-renderutil",
    ),
    SystemLibrary("libxcb-randr.so.0", "libxcb-randr0", "libxcb", "libxcb"),
    SystemLibrary("libxcb-render.so.0", "libxcb-render0", "libxcb", "libxcb"),
    SystemLibrary("libxcb-shape.so.0", "libxcb-shape0", "libxcb", "libxcb"),
    SystemLibrary("libxcb-shm.so.0", "libxcb-shm0", "libxcb", "libxcb"),
    SystemLibrary("libxcb-sync.so.1", "libxcb-sync1", "libxcb", "libxcb"),
    SystemLibrary("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb", "libxcb"),
    SystemLibrary("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb", "libxcb"),
    SystemLibrary("libxcb.so.1", "libxcb1", "libxcb", "libxcb"),
    SystemLibrary("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb", "libx11"),
    SystemLibrary("libX11.so.6", "libx11-6", "libX11", "libx11"),
    SystemLibrary("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    SystemLibrary(
        "libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"
    ),
    SystemLibrary("libGL.so.1", "libgl1", "libglvnd-glx", "libglvnd"),
    SystemLibrary("libEGL.so.1", "libegl1", "libglvnd-egl", "libglvnd"),
    SystemLibrary("libfontconfig.so.1", "libfontconfig1", "fontconfig", "fontconfig"),
    SystemLibrary("libfreetype.so.6", "libfreetype6", "freetype", "freetype2"),
    SystemLibrary("libglib-2.0.so.0", "libglib2.0-0", "glib2", "glib2"),
    SystemLibrary("libdbus-1.so.3", "libdbus-1-3", "dbus-libs", "dbus"),
)

#: Package manager command → (the install command's start, the table field naming its package).
PACKAGE_MANAGERS: tuple[tuple[str, str, str], ...] = (
    ("apt-get", "sudo apt-get install", "apt"),
    ("dnf", "sudo dnf install", "dnf"),
    ("pacman", "sudo pacman -S", "pacman"),
)


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(
    libraries: Sequence[SystemLibrary] = XCB_PLUGIN_LIBRARIES,
    loads: Callable[[str], bool] = _loads,
) -> list[SystemLibrary]:
    """The libraries the dynamic loader cannot load (absent, or a broken file in their place)."""
    return [library for library in libraries if not loads(library.soname)]


def uses_xcb(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will pick its X11 (xcb) platform plugin in this environment."""
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    wayland = environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY")
    return not wayland


def install_commands(missing: Sequence[SystemLibrary]) -> list[str]:
    """One command per package manager, only the managers found on this machine when any is."""
    found = [m for m in PACKAGE_MANAGERS if shutil.which(m[0])] or list(PACKAGE_MANAGERS)
    commands = []
    for _tool, start, field in found:
        packages = dict.fromkeys(getattr(library, field) for library in missing)
        commands.append(f"{start} {' '.join(packages)}")
    return commands


def missing_libraries_message(missing: Sequence[SystemLibrary]) -> str:
    """What to tell the person: which libraries, and the command that installs them."""
    names = ", ".join(library.soname for library in missing)
    commands = install_commands(missing)
    if len(commands) == 1:
        how = f"Install them with:\n\n    {commands[0]}\n"
    else:
        how = "Install them with the command for your system:\n\n" + "".join(
            f"    {command}\n" for command in commands
        )
    return (
        "Quantdesk cannot open its window: the system libraries Qt needs to draw on an X11 "
        f"desktop are missing ({names}).\n{how}\nThen start Quantdesk again."
    )


def show_without_qt(title: str, text: str) -> bool:
    """Show ``text`` in a desktop dialog without Qt (zenity, kdialog or xmessage, if present)."""
    if not os.environ.get("DISPLAY"):
        return False
    for command in (
        ["zenity", "--error", f"--title={title}", "--no-markup", f"--text={text}"],
        ["kdialog", "--title", title, "--error", text],
        ["xmessage", "-center", text],
    ):
        if shutil.which(command[0]):
            try:
                subprocess.run(command, check=False, timeout=600)
            except (OSError, subprocess.SubprocessError):
                continue
            return True
    return False


def check_before_qt() -> str | None:
    """The message to give when Qt's xcb plugin would fail to load, else ``None``.

    ``QUANTDESK_SKIP_LIBRARY_CHECK=1`` skips it (for a system whose loader the check misreads).
    """
    if os.environ.get("QUANTDESK_SKIP_LIBRARY_CHECK") == "1" or not uses_xcb():
        return None
    missing = missing_libraries()
    return missing_libraries_message(missing) if missing else None


def report_missing_libraries() -> bool:
    """Print (and, when started without a terminal, show) the message; ``True`` if Qt can start."""
    message = check_before_qt()
    if message is None:
        return True
    print(message, file=sys.stderr, flush=True)
    if not (sys.stderr.isatty() or sys.stdin.isatty()):
        show_without_qt("Quantdesk cannot start", message)
    return False
