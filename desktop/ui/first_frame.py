"""Start-up work that waits until the main window's first frame is on the screen.

The window should appear as soon as its widgets exist; everything else (probing the hardware,
scanning the library, resuming downloads) starts a moment later. ``QTimer.singleShot(0)``
right after ``show()`` is too early: the zero timer fires before the window system's expose
event, so work started there delays the first paint. :class:`AfterFirstFrame` waits for the
window's first ``Paint`` event and runs the work on the next turn of the event loop, after the
frame was flushed.

llama.cpp's shared libraries are loaded first (:func:`load_llama_libraries`, in a worker),
and the rest of the start-up work waits for it: before numpy, which a CUDA build of llama.cpp
needs (:func:`converter.child_process.preload_llama_libraries`), and at start-up rather than at some
later moment in a fit prediction. Measured on a busy 2-core machine (CPU build): loaded in a
worker thread, the event loop's longest gap after the first frame was 50–100 ms (the paint
included); importing them on the GUI thread after the first frame instead froze the window
for 330–400 ms, and importing them before the window (as the app used to) delayed its first
frame by about as much. Only the ``dlopen`` itself holds the GIL; the Python part of the
import runs beside the event loop.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

#: A window that is shown but never painted (minimised, on a hidden workspace) still starts.
FALLBACK_MS = 2_000


def load_llama_libraries() -> None:
    """Load llama.cpp's shared libraries (call it in a worker, before anything imports numpy),
    then the inference worker's client package.

    Its first import otherwise lands on the first load or comparison: in a worker thread, but
    holding the GIL in bursts while every core is busy with the levels starting. The first
    comparison of a fresh process showed GUI gaps of 0.1-0.27 s at its start that later ones
    did not; at start-up nothing competes with the import yet.
    """
    from converter.child_process import preload_llama_libraries

    preload_llama_libraries()
    import desktop.engine.worker  # noqa: F401


class AfterFirstFrame(QObject):
    """Calls ``callback`` once: on the event-loop turn after ``window`` is first painted.

    Install it before ``window.show()``; :meth:`cancel` (for a window closed before its first
    frame) makes sure the callback never runs.
    """

    def __init__(self, window: QWidget, callback: Callable[[], None]) -> None:
        super().__init__(window)
        self._window = window
        self._callback: Callable[[], None] | None = callback
        self._fallback = QTimer(self)
        self._fallback.setSingleShot(True)
        self._fallback.setInterval(FALLBACK_MS)
        self._fallback.timeout.connect(self._fire)
        window.installEventFilter(self)

    @property
    def pending(self) -> bool:
        return self._callback is not None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and self._callback is not None:
            if event.type() == QEvent.Type.Show and not self._fallback.isActive():
                self._fallback.start()
            elif event.type() == QEvent.Type.Paint:
                self._window.removeEventFilter(self)
                QTimer.singleShot(0, self._fire)
        return False

    def cancel(self) -> None:
        self._callback = None
        self._fallback.stop()
        self._window.removeEventFilter(self)

    def _fire(self) -> None:
        callback, self._callback = self._callback, None
        self._fallback.stop()
        if callback is not None:
            callback()
