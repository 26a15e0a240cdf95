"""A plain QPainter chart of one model's ladder: size (x) against quality (y), speed as labels.

Quality is "same top token as the reference" (higher is better); levels without a quality
measurement sit on a dashed "not measured" line at the bottom. The level that fits this
machine best is drawn with a ring and named in the legend.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from converter.storage import format_bytes
from desktop.services.ladder_data import LadderPoint, best_fit

VERDICT_COLOURS = {
    "full_gpu": "#2e9d5b",
    "partial_gpu": "#d6a21e",
    "cpu_only": "#3a78c2",
    "wont_fit": "#c0392b",
    "": "#888888",
}
VERDICT_LABELS = {
    "full_gpu": "full GPU",
    "partial_gpu": "partial GPU",
    "cpu_only": "CPU only",
    "wont_fit": "will not fit",
}
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 24, 28, 52
FLOOR = 34  # the lowest measured value sits this far above the plot's bottom ("not measured")


class LadderChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Ladder chart: size against quality")
        self.setMinimumSize(360, 170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.points: list[LadderPoint] = []
        self.best: LadderPoint | None = None

    def set_points(self, points: list[LadderPoint]) -> None:
        self.points = sorted(points, key=lambda p: p.size_bytes)
        self.best = best_fit(self.points)
        description = ", ".join(f"{p.level} {p.quality_text}" for p in self.points)
        self.setAccessibleDescription(description)
        self.update()

    def _plot_rect(self) -> QRectF:
        return QRectF(
            MARGIN_LEFT,
            MARGIN_TOP,
            max(1, self.width() - MARGIN_LEFT - MARGIN_RIGHT),
            max(1, self.height() - MARGIN_TOP - MARGIN_BOTTOM),
        )

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text_colour = palette.color(QPalette.ColorRole.WindowText)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        rect = self._plot_rect()
        if not self.points:
            painter.setPen(text_colour)
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter,
                "No levels of this model in the library yet.",
            )
            return
        grid = QColor(text_colour)
        grid.setAlpha(60)
        painter.setPen(QPen(grid, 1))
        painter.drawRect(rect)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        painter.setFont(small)

        sizes = [p.size_bytes for p in self.points]
        lo, hi = min(sizes), max(sizes)
        span = max(hi - lo, 1)
        tops = [p.same_top for p in self.points if p.same_top is not None]
        y_lo = min([*tops, 1.0]) if tops else 0.0
        y_lo = max(0.0, min(y_lo, 0.99) - 0.02)

        def x_of(size: int) -> float:
            return rect.left() + 50 + (size - lo) / span * (rect.width() - 100)

        def y_of(point: LadderPoint) -> float:
            if point.is_reference:
                value = 1.0
            elif point.same_top is None:
                return rect.bottom() - 14
            else:
                value = point.same_top
            return (
                rect.bottom()
                - FLOOR
                - (value - y_lo) / max(1.0 - y_lo, 1e-6) * (rect.height() - FLOOR - 16)
            )

        painter.setPen(QPen(grid, 1, Qt.PenStyle.DashLine))
        painter.drawLine(
            QPointF(rect.left(), rect.bottom() - 14), QPointF(rect.right(), rect.bottom() - 14)
        )
        painter.setPen(text_colour)
        painter.drawText(
            QRectF(0, rect.top() - 22, self.width(), 18),
            Qt.AlignmentFlag.AlignLeft,
            "  Same top token as full precision (higher is better)",
        )
        painter.drawText(
            QRectF(0, rect.bottom() - 20, MARGIN_LEFT - 4, 14),
            Qt.AlignmentFlag.AlignRight,
            "not meas.",
        )
        for value in (y_lo, (y_lo + 1) / 2, 1.0):
            y = (
                rect.bottom()
                - FLOOR
                - (value - y_lo) / max(1.0 - y_lo, 1e-6) * (rect.height() - FLOOR - 16)
            )
            painter.drawText(
                QRectF(0, y - 8, MARGIN_LEFT - 6, 16), Qt.AlignmentFlag.AlignRight, f"{value:.0%}"
            )
        painter.drawText(
            QRectF(rect.left(), rect.bottom() + 4, rect.width(), 16),
            Qt.AlignmentFlag.AlignCenter,
            "File size →",
        )

        previous: QPointF | None = None
        line = QColor(text_colour)
        line.setAlpha(110)
        centres = [QPointF(x_of(p.size_bytes), y_of(p)) for p in self.points]
        for point, centre in zip(self.points, centres, strict=True):
            if previous is not None and point.same_top is not None:
                painter.setPen(QPen(line, 1.5))
                painter.drawLine(previous, centre)
            if point.same_top is not None or point.is_reference:
                previous = centre
        taken = [QRectF(c.x() - 8, c.y() - 8, 16, 16) for c in centres]  # labels avoid dots
        for point, centre in zip(self.points, centres, strict=True):
            self._draw_point(painter, point, centre, text_colour, taken)
        self._draw_legend(painter, rect, text_colour)

    def _draw_point(
        self,
        painter: QPainter,
        point: LadderPoint,
        centre: QPointF,
        text: QColor,
        taken: list[QRectF],
    ) -> None:
        colour = QColor(VERDICT_COLOURS.get(point.verdict, "#888888"))
        painter.setPen(QPen(colour.darker(130), 1))
        painter.setBrush(colour)
        painter.drawEllipse(centre, 6, 6)
        if point is self.best:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(text, 2))
            painter.drawEllipse(centre, 11, 11)
        painter.setPen(text)
        speed = "" if point.gen_tokens_per_s is None else f" · {point.gen_tokens_per_s:.0f} t/s"
        y = centre.y()
        for label, rows in (
            (f"{point.level}{speed}", (y - 28, y - 44, y + 10, y - 60, y + 26)),
            (format_bytes(point.size_bytes), (y + 10, y + 26, y - 28, y - 44, y - 60)),
        ):
            box = self._free_box(painter, label, centre.x(), rows, taken)
            taken.append(box)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, label)

    def _free_box(
        self, painter: QPainter, label: str, x: float, rows: tuple[float, ...], taken: list[QRectF]
    ) -> QRectF:
        """The first of ``rows`` where the label overlaps no other label or dot (else the first):
        neighbouring levels are often only a few pixels apart on the size axis."""
        plot = self._plot_rect()
        width = painter.fontMetrics().horizontalAdvance(label) + 8
        left = min(max(x - width / 2, plot.left() + 2), plot.right() - width - 2)
        boxes = [QRectF(left, top, width, 16) for top in rows]
        return next((b for b in boxes if not any(b.intersects(t) for t in taken)), boxes[0])

    def _draw_legend(self, painter: QPainter, rect: QRectF, text: QColor) -> None:
        x = rect.left()
        y = self.height() - 22
        for verdict, label in VERDICT_LABELS.items():
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(VERDICT_COLOURS[verdict]))
            painter.drawEllipse(QPointF(x + 5, y + 8), 5, 5)
            painter.setPen(text)
            painter.drawText(QRectF(x + 14, y, 90, 16), Qt.AlignmentFlag.AlignLeft, label)
            x += 100
        if self.best is not None:
            painter.drawText(
                QRectF(x + 10, y, rect.right() - x, 16),
                Qt.AlignmentFlag.AlignLeft,
                f"◯ best for this machine: {self.best.level}",
            )
