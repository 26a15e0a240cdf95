"""Light and dark palettes (Fusion style) and the style sheet, both from the design tokens.

resources/styles/tokens.json holds the spacing, radius and colour tokens of both themes;
resources/styles/app.qss refers to them as ``{{name}}``. The palette takes its colours from the
same tokens, so widgets Qt draws itself and those the style sheet draws agree.
"""

from __future__ import annotations

import functools
import json
import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from converter.resources import resource_path

_FUSION_SET = "quantdeskFusionStyle"  # QApplication property: the style was set already
#: Palette role → token: the palette is built from the same tokens as the style sheet.
_PALETTE_TOKENS = {
    QPalette.ColorRole.Window: "window",
    QPalette.ColorRole.WindowText: "text",
    QPalette.ColorRole.Base: "surface",
    QPalette.ColorRole.AlternateBase: "surface_alt",
    QPalette.ColorRole.ToolTipBase: "surface",
    QPalette.ColorRole.ToolTipText: "text",
    QPalette.ColorRole.Text: "text",
    QPalette.ColorRole.Button: "surface_alt",
    QPalette.ColorRole.ButtonText: "text",
    QPalette.ColorRole.Link: "accent",
    QPalette.ColorRole.Highlight: "accent",
    QPalette.ColorRole.HighlightedText: "accent_text",
    QPalette.ColorRole.PlaceholderText: "text_muted",
}
_TOKEN = re.compile(r"\{\{(\w+)\}\}")


@functools.cache
def tokens(theme: str) -> dict[str, str]:
    """The design tokens of "light" or "dark" (shared ones included)."""
    data = json.loads(resource_path("styles", "tokens.json").read_text(encoding="utf-8"))
    values = {**data["shared"], **data[theme]}
    values["icons"] = resource_path("icons", "ui").as_posix()
    return values


def style_sheet(theme: str) -> str:
    """app.qss with the theme's tokens filled in (an unknown token is a bug: KeyError)."""
    values = tokens(theme)
    template = resource_path("styles", "app.qss").read_text(encoding="utf-8")
    return _TOKEN.sub(lambda m: values[m.group(1)], template)


def is_dark(theme: str) -> bool:
    """``theme`` is "light", "dark" or "system" (follow the desktop's colour scheme)."""
    if theme == "system":
        hints = QGuiApplication.styleHints()
        return hints.colorScheme() == Qt.ColorScheme.Dark
    return theme == "dark"


def apply_theme(app: QApplication, theme: str) -> None:
    """Switch palette and style sheet; safe while windows are open (the settings dialog)."""
    if not app.property(_FUSION_SET):
        # Only once per app: once a style sheet is applied, app.style() is Qt's style-sheet
        # proxy, and replacing the style under it crashed Qt (an open wizard, a theme switch).
        app.setStyle("Fusion")
        app.setProperty(_FUSION_SET, True)
    name = "dark" if is_dark(theme) else "light"
    values = tokens(name)
    palette = app.style().standardPalette()
    for role, token in _PALETTE_TOKENS.items():
        palette.setColor(role, QColor(values[token]))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        disabled = "#7a7f88" if name == "dark" else "#a0a6b0"
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(disabled))
    app.setPalette(palette)
    app.setStyleSheet(style_sheet(name))
    from desktop.ui.icons import recolour_icons

    recolour_icons(app)


def app_icon() -> QIcon:
    return QIcon(str(resource_path("icons", "quantdesk.svg")))
