"""Light and dark palettes (Fusion style) plus the small style sheets in resources/styles."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from converter.resources import resource_path

_FUSION_SET = "quantdeskFusionStyle"  # QApplication property: the style was set already
_DARK_COLOURS = {
    QPalette.ColorRole.Window: "#202124",
    QPalette.ColorRole.WindowText: "#e8e8e8",
    QPalette.ColorRole.Base: "#17181a",
    QPalette.ColorRole.AlternateBase: "#25272a",
    QPalette.ColorRole.ToolTipBase: "#2b2d30",
    QPalette.ColorRole.ToolTipText: "#e8e8e8",
    QPalette.ColorRole.Text: "#e8e8e8",
    QPalette.ColorRole.Button: "#2b2d30",
    QPalette.ColorRole.ButtonText: "#e8e8e8",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Link: "#7cc4ff",
    QPalette.ColorRole.Highlight: "#3a78c2",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.PlaceholderText: "#8a8a8a",
}


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
    dark = is_dark(theme)
    palette = app.style().standardPalette()
    if dark:
        for role, colour in _DARK_COLOURS.items():
            palette.setColor(role, QColor(colour))
        for role in (
            QPalette.ColorRole.Text,
            QPalette.ColorRole.ButtonText,
            QPalette.ColorRole.WindowText,
        ):
            palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    app.setPalette(palette)
    sheet = resource_path("styles", "dark.qss" if dark else "light.qss")
    app.setStyleSheet(sheet.read_text(encoding="utf-8") if sheet.exists() else "")


def app_icon() -> QIcon:
    return QIcon(str(resource_path("icons", "quantdesk.svg")))
