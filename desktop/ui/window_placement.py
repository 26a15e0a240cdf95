"""Every window opens on a screen: a restored geometry from a monitor that is gone, or a child
window placed beside a main window near the screen's edge, is moved back onto the screen.

:class:`OnScreenGuard` watches the application's ``Show`` events, so dialogs and windows made
anywhere in the app are covered without each one remembering to call :func:`keep_on_screen`.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

_PLACED = (Qt.WindowType.Window, Qt.WindowType.Dialog)


def _screen_rect(window: QWidget) -> QRect | None:
    frame = window.frameGeometry()
    screen = QGuiApplication.screenAt(frame.center())
    parent = window.parentWidget()
    if screen is None and parent is not None:
        screen = parent.window().screen()
    screen = screen or QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else None


def on_screen_position(frame: QRect, available: QRect) -> QPoint:
    """Where ``frame`` goes so all of it is on ``available`` (its top-left one if it is larger)."""
    x = min(frame.x(), available.right() + 1 - frame.width())
    y = min(frame.y(), available.bottom() + 1 - frame.height())
    return QPoint(max(x, available.left()), max(y, available.top()))


def keep_on_screen(window: QWidget) -> None:
    """Move ``window`` (not resize it) so that its frame lies on the screen it is mostly on."""
    available = _screen_rect(window)
    if available is None:
        return
    frame = window.frameGeometry()
    target = on_screen_position(frame, available)
    if target != frame.topLeft():
        window.move(window.pos() + (target - frame.topLeft()))


class OnScreenGuard(QObject):
    """Application-wide: each top-level window is kept on screen when it is shown."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Show
            and isinstance(watched, QWidget)
            and watched.isWindow()
            and watched.windowType() in _PLACED  # popups and tool tips place themselves
        ):
            keep_on_screen(watched)
        return False


def install_on_screen_guard() -> OnScreenGuard | None:
    """Install the guard once per application."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return None
    existing = app.findChild(OnScreenGuard)
    return existing if existing is not None else OnScreenGuard(app)
