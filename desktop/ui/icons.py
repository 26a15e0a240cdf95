"""The app's icons: Tabler's outline SVGs (MIT, resources/icons/ui), drawn in the theme's colours.

Tabler draws with ``stroke="currentColor"``, which Qt's SVG renderer has no colour for; each icon
is therefore rendered with the palette's text colour (and its disabled colour for the disabled
mode). Widgets and actions given an icon through :func:`set_icon` remember its name, so
:func:`recolour_icons` redraws them all when the theme changes.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import QByteArray, QObject, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QAbstractButton, QApplication

from converter.resources import resource_path

ICON_NAME = "quantdeskIcon"  # dynamic property: the icon a widget or action shows
_SIZES = (16, 20, 24, 32, 48)
_tracked: list[QAction] = []  # actions are not widgets: kept here to be recoloured


@functools.cache
def _svg(name: str) -> str:
    return resource_path("icons", "ui", f"{name}.svg").read_text(encoding="utf-8")


@functools.cache
def _icon(name: str, normal: str, disabled: str) -> QIcon:
    icon = QIcon()
    for colour, mode in ((normal, QIcon.Mode.Normal), (disabled, QIcon.Mode.Disabled)):
        data = QByteArray(_svg(name).replace("currentColor", colour).encode())
        renderer = QSvgRenderer(data)
        for size in _SIZES:
            pixmap = QPixmap(size, size)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            renderer.render(painter, QRectF(0, 0, size, size))
            painter.end()
            icon.addPixmap(pixmap, mode)
    return icon


def icon(name: str, colour: QColor | None = None) -> QIcon:
    """The icon ``name`` (a file in resources/icons/ui) in the current palette's text colour."""
    palette = QApplication.palette()
    normal = colour or palette.color(QPalette.ColorRole.ButtonText)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
    return _icon(name, normal.name(), disabled.name())


def set_icon(target: QAbstractButton | QAction, name: str) -> None:
    """Give ``target`` the icon ``name`` and remember it for theme changes."""
    target.setProperty(ICON_NAME, name)
    target.setIcon(icon(name))
    if isinstance(target, QAction) and target not in _tracked:
        _tracked.append(target)
        target.destroyed.connect(lambda *_: _forget(target))


def _forget(action: QObject) -> None:
    if action in _tracked:
        _tracked.remove(action)


def recolour_icons(app: QApplication) -> None:
    """Redraw every remembered icon in the (new) palette's colours."""
    for widget in app.allWidgets():
        name = widget.property(ICON_NAME)
        if name and isinstance(widget, QAbstractButton):
            widget.setIcon(icon(str(name)))
    for action in list(_tracked):
        try:
            action.setIcon(icon(str(action.property(ICON_NAME))))
        except RuntimeError:  # deleted by Qt
            _forget(action)
