"""A plain QPainter chart of one model's ladder: size (x) against quality (y), speed as labels.

Quality is "same top token as the reference" (higher is better), each point with its error
bar (± llama.cpp's uncertainty); points are not joined, because a line suggests an order in
differences smaller than the noise. Levels without a quality measurement sit on a dashed "not
measured" line at the bottom. The recommended level is drawn with a ring and named in the
legend. Labels are placed so that they never overlap each other, a point, or the widget's
edge (:meth:`LadderChart.label_boxes`); a label moved away from its point gets a thin leader.
A label with no free place left (a crowded ladder in a small window) is not drawn; hovering
over any point shows its level, size, quality and speed.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QHelpEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

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
EMPTY_TITLE = "No levels to chart yet"
EMPTY_TEXT = (
    "The chart shows every quantization level of one model: size, quality and speed. Convert "
    "a checkpoint into several levels (Convert in the toolbar), or download levels of a GGUF "
    "repository from the Hub; then tick 2 to 4 of them above to compare their replies."
)
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 24, 28, 30
FLOOR = 34  # the lowest measured value sits this far above the plot's bottom ("not measured")
DOT_RADIUS = 6
LABEL_HEIGHT = 16
#: Vertical offsets tried for a label, nearest first (pixels from its point's centre).
_LABEL_ROWS = tuple(d for k in range(12) for d in (-26 - 16 * k, 10 + 16 * k))


class LadderChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Ladder chart: size against quality")
        self.setMinimumSize(360, 128)  # with the rule below, the compare view fits 1024×640
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.points: list[LadderPoint] = []
        self.best: LadderPoint | None = None
        self.setAccessibleDescription(f"{EMPTY_TITLE}. {EMPTY_TEXT}")

    def set_points(self, points: list[LadderPoint]) -> None:
        self.points = sorted(points, key=lambda p: p.size_bytes)
        self.best = best_fit(self.points)
        description = ", ".join(f"{p.level} {p.quality_text}" for p in self.points)
        self.setAccessibleDescription(description or f"{EMPTY_TITLE}. {EMPTY_TEXT}")
        self.update()

    # geometry ------------------------------------------------------------------------------
    def _plot_rect(self) -> QRectF:
        return QRectF(
            MARGIN_LEFT,
            MARGIN_TOP,
            max(1, self.width() - MARGIN_LEFT - MARGIN_RIGHT),
            max(1, self.height() - MARGIN_TOP - MARGIN_BOTTOM),
        )

    def _small_font(self) -> QFont:
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        return small

    def _y_range(self) -> tuple[float, float]:
        lows = [p.same_top - p.same_top_error for p in self.points if p.same_top is not None]
        y_lo = min([*lows, 1.0]) if lows else 0.0
        return max(0.0, min(y_lo, 0.99) - 0.02), 1.0

    def _y_of_value(self, value: float) -> float:
        rect = self._plot_rect()
        y_lo, y_hi = self._y_range()
        share = (value - y_lo) / max(y_hi - y_lo, 1e-6)
        return rect.bottom() - FLOOR - share * (rect.height() - FLOOR - 16)

    def centres(self) -> list[QPointF]:
        """Where each point's dot is drawn, in the order of :attr:`points`."""
        rect = self._plot_rect()
        sizes = [p.size_bytes for p in self.points]
        lo, span = (min(sizes), max(max(sizes) - min(sizes), 1)) if sizes else (0, 1)
        out = []
        for point in self.points:
            x = rect.left() + 50 + (point.size_bytes - lo) / span * (rect.width() - 100)
            if point.is_reference:
                y = self._y_of_value(1.0)
            elif point.same_top is None:
                y = rect.bottom() - 14
            else:
                y = self._y_of_value(point.same_top)
            out.append(QPointF(x, y))
        return out

    def _label(self, point: LadderPoint) -> str:
        speed = "" if point.gen_tokens_per_s is None else f" · {point.gen_tokens_per_s:.0f} t/s"
        unsteady = "?" if point.speed_unsteady else ""  # the tooltip says why
        return f"{point.level}{speed}{unsteady}"

    def label_boxes(self) -> list[QRectF | None]:
        """Each point's label box: inside the plot, clear of every dot, error bar and other
        label. Placed nearest first; a crowded chart moves labels further up or down, and a
        label with no free place left gets None (the point's tooltip names it)."""
        metrics = QFontMetricsF(self._small_font())
        plot = self._plot_rect().adjusted(2, 2, -2, -2)
        centres = self.centres()
        taken = [
            QRectF(c.x() - DOT_RADIUS - 2, c.y() - DOT_RADIUS - 2, 2 * DOT_RADIUS + 4,
                   2 * DOT_RADIUS + 4)
            for c in centres
        ]  # fmt: skip
        taken += [bar for bar in self._error_bars(centres) if bar.height() > 0]
        boxes = []
        for point, centre in zip(self.points, centres, strict=True):
            width = metrics.horizontalAdvance(self._label(point)) + 8
            box = self._place(centre, width, plot, taken)
            if box is not None:
                taken.append(box)
            boxes.append(box)
        return boxes

    def _place(
        self, centre: QPointF, width: float, plot: QRectF, taken: list[QRectF]
    ) -> QRectF | None:
        shifts = (0.0, -0.5, 0.5, -1.0, 1.0)  # of the label's width, sideways
        for dy in _LABEL_ROWS:
            for shift in shifts:
                left = centre.x() - width / 2 + shift * width
                left = min(max(left, plot.left()), plot.right() - width)
                top = min(max(centre.y() + dy, plot.top()), plot.bottom() - LABEL_HEIGHT)
                box = QRectF(left, top, width, LABEL_HEIGHT)
                if not any(box.intersects(t) for t in taken):
                    return box
        return None

    def _error_bars(self, centres: list[QPointF]) -> list[QRectF]:
        """One thin box per point from ``value - error`` to ``value + error``."""
        bars = []
        for point, centre in zip(self.points, centres, strict=True):
            if point.same_top is None or point.is_reference or point.same_top_error <= 0:
                bars.append(QRectF(centre.x(), centre.y(), 0, 0))
                continue
            top = self._y_of_value(min(1.0, point.same_top + point.same_top_error))
            bottom = self._y_of_value(point.same_top - point.same_top_error)
            bars.append(QRectF(centre.x() - 4, top, 8, max(0.0, bottom - top)))
        return bars

    def point_at(self, position: QPointF) -> LadderPoint | None:
        """The point whose dot is nearest ``position``, within a few pixels of it."""
        nearest, best_distance = None, float((DOT_RADIUS + 4) ** 2)
        for point, centre in zip(self.points, self.centres(), strict=True):
            distance = (centre.x() - position.x()) ** 2 + (centre.y() - position.y()) ** 2
            if distance <= best_distance:
                nearest, best_distance = point, distance
        return nearest

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            point = self.point_at(QPointF(event.pos()))
            if point is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(event.globalPos(), point_tooltip(point), self)
            return True
        return super().event(event)

    # painting ------------------------------------------------------------------------------
    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text_colour = palette.color(QPalette.ColorRole.WindowText)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        rect = self._plot_rect()
        if not self.points:
            self._draw_empty(painter, text_colour)
            return
        grid = QColor(text_colour)
        grid.setAlpha(60)
        painter.setPen(QPen(grid, 1))
        painter.drawRect(rect)
        painter.setFont(self._small_font())
        self._draw_axes(painter, rect, grid, text_colour)
        centres = self.centres()
        bar_pen = QPen(text_colour, 1.2)
        for bar in self._error_bars(centres):
            if bar.height() <= 0:
                continue
            painter.setPen(bar_pen)
            x = bar.center().x()
            painter.drawLine(QPointF(x, bar.top()), QPointF(x, bar.bottom()))
            painter.drawLine(QPointF(x - 4, bar.top()), QPointF(x + 4, bar.top()))
            painter.drawLine(QPointF(x - 4, bar.bottom()), QPointF(x + 4, bar.bottom()))
        for point, centre in zip(self.points, centres, strict=True):
            self._draw_dot(painter, point, centre, text_colour)
        leader = QColor(text_colour)
        leader.setAlpha(90)
        for point, centre, box in zip(self.points, centres, self.label_boxes(), strict=True):
            if box is None:
                continue
            if not box.adjusted(-DOT_RADIUS * 2, -DOT_RADIUS * 2, DOT_RADIUS * 2,
                                DOT_RADIUS * 2).contains(centre):  # fmt: skip
                painter.setPen(QPen(leader, 1))
                edge_y = box.bottom() if box.center().y() < centre.y() else box.top()
                painter.drawLine(centre, QPointF(box.center().x(), edge_y))
            painter.setPen(text_colour)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self._label(point))

    def _draw_empty(self, painter: QPainter, text: QColor) -> None:
        """What to do when there is nothing to draw: a heading and the next step."""
        box = QRectF(self.rect()).adjusted(24, 0, -24, 0)
        box.setWidth(min(box.width(), 560))
        box.moveCenter(QPointF(self.rect().center()))
        title = QFont(self.font())
        title.setPointSizeF(title.pointSizeF() * 1.3)
        title.setBold(True)
        painter.setFont(title)
        painter.setPen(text)
        heading = QRectF(box.left(), box.center().y() - 44, box.width(), 26)
        painter.drawText(heading, Qt.AlignmentFlag.AlignCenter, EMPTY_TITLE)
        muted = QColor(text)
        muted.setAlpha(170)
        painter.setPen(muted)
        painter.setFont(self.font())
        body = QRectF(box.left(), heading.bottom() + 6, box.width(), 80)
        flags = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
        painter.drawText(body, int(flags | Qt.TextFlag.TextWordWrap), EMPTY_TEXT)

    def _draw_axes(self, painter: QPainter, rect: QRectF, grid: QColor, text: QColor) -> None:
        painter.setPen(QPen(grid, 1, Qt.PenStyle.DashLine))
        painter.drawLine(
            QPointF(rect.left(), rect.bottom() - 14), QPointF(rect.right(), rect.bottom() - 14)
        )
        painter.setPen(text)
        legend_left = self._draw_legend(painter, rect, text)
        title = "Same top token as full precision, ± its error (higher is better)"
        room = max(0.0, legend_left - 24 - 8)
        title = painter.fontMetrics().elidedText(title, Qt.TextElideMode.ElideRight, int(room))
        painter.drawText(QRectF(8, rect.top() - 22, room, 18), Qt.AlignmentFlag.AlignLeft, title)
        painter.drawText(
            QRectF(0, rect.bottom() - 20, MARGIN_LEFT - 4, 14),
            Qt.AlignmentFlag.AlignRight,
            "not meas.",
        )
        y_lo, y_hi = self._y_range()
        for value in (y_lo, (y_lo + y_hi) / 2, y_hi):
            y = self._y_of_value(value)
            painter.drawText(
                QRectF(0, y - 8, MARGIN_LEFT - 6, 16), Qt.AlignmentFlag.AlignRight, f"{value:.0%}"
            )
        sizes = [p.size_bytes for p in self.points]
        lo, hi = min(sizes), max(sizes)
        painter.drawText(
            QRectF(rect.left(), rect.bottom() + 4, rect.width(), 16),
            Qt.AlignmentFlag.AlignCenter,
            f"File size →   ({format_bytes(lo)} … {format_bytes(hi)})",
        )

    def _draw_dot(
        self, painter: QPainter, point: LadderPoint, centre: QPointF, text: QColor
    ) -> None:
        colour = QColor(VERDICT_COLOURS.get(point.verdict, "#888888"))
        painter.setPen(QPen(colour.darker(130), 1))
        painter.setBrush(colour)
        painter.drawEllipse(centre, DOT_RADIUS, DOT_RADIUS)
        if point is self.best:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(text, 2))
            painter.drawEllipse(centre, DOT_RADIUS + 5, DOT_RADIUS + 5)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _draw_legend(self, painter: QPainter, rect: QRectF, text: QColor) -> float:
        """The colour key, right-aligned on the title's line; returns where it starts."""
        metrics = painter.fontMetrics()
        entries = [(VERDICT_COLOURS[v], label) for v, label in VERDICT_LABELS.items()]
        if self.best is not None:
            entries.append(("", f"recommended: {self.best.level}"))
        widths = [14 + metrics.horizontalAdvance(label) + 14 for _, label in entries]
        x = left = rect.right() - sum(widths)
        y = rect.top() - 22
        for (colour, label), width in zip(entries, widths, strict=True):
            centre = QPointF(x + 5, y + 9)
            if colour:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(colour))
                painter.drawEllipse(centre, 5, 5)
            else:  # the recommended level's ring
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.setPen(QPen(text, 1.5))
                painter.drawEllipse(centre, 5, 5)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(text)
            painter.drawText(QRectF(x + 14, y, width - 14, 18), Qt.AlignmentFlag.AlignLeft, label)
            x += width
        return left


def point_tooltip(point: LadderPoint) -> str:
    """One point in words: level, file size, quality and speed."""
    speed = "" if point.gen_tokens_per_s is None else f" · {point.speed_text}"
    return f"{point.level} · {format_bytes(point.size_bytes)} · {point.quality_text}{speed}"
