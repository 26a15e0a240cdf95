"""The chat's model picker: a searchable list whose rows carry badges (level, size, fit, speed).

It is a :class:`QComboBox`, so keyboards, screen readers and the tests treat it as one; typing
filters the list (any part of the name), and :class:`BadgeDelegate` draws each row's badges.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

BADGES_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True, slots=True)
class ModelBadges:
    """What the picker shows beside a file's name."""

    level: str
    size: str
    fit: str = ""  # "CPU only", "Full GPU" … (empty: not predicted yet)
    speed: str = ""  # "24 tokens/s" (empty: not measured)

    def texts(self) -> list[str]:
        return [t for t in (self.level, self.size, self.fit, self.speed) if t]

    def tooltip(self) -> str:
        return " · ".join(self.texts())


class BadgeDelegate(QStyledItemDelegate):
    """Name on the left, rounded badges on the right."""

    PAD = 6

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        badges = index.data(BADGES_ROLE)
        super().paint(painter, option, index)
        if not isinstance(badges, ModelBadges):
            return
        painter.save()
        metrics = QFontMetrics(option.font)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_colour = option.palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        fill = QColor(text_colour)
        fill.setAlpha(34)
        right = option.rect.right() - self.PAD
        for text in reversed(badges.texts()):
            width = metrics.horizontalAdvance(text) + 2 * self.PAD
            box = QRect(right - width, option.rect.top() + 3, width, option.rect.height() - 6)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(text_colour)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
            right -= width + self.PAD
        painter.restore()

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        hint = super().sizeHint(option, index)
        badges = index.data(BADGES_ROLE)
        if isinstance(badges, ModelBadges):
            metrics = QFontMetrics(option.font)
            extra = sum(metrics.horizontalAdvance(t) + 3 * self.PAD for t in badges.texts())
            hint.setWidth(hint.width() + extra + 24)
        return QSize(hint.width(), max(hint.height(), 28))


class ModelPicker(QComboBox):
    """Pick a library file: type to search, badges say what each file is and how it runs here."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        search = self.lineEdit()
        assert search is not None  # an editable combo box has one
        search.setPlaceholderText("Search the library's models")
        completer = QCompleter(self.model(), self)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        popup = completer.popup()
        assert popup is not None  # a completer makes its popup on first ask
        popup.setItemDelegate(BadgeDelegate(popup))
        self.setCompleter(completer)
        self.setItemDelegate(BadgeDelegate(self))
        self.view().setMinimumWidth(560)

    def set_badges(self, path: str, badges: ModelBadges) -> None:
        index = self.findData(path)
        if index >= 0:
            self.setItemData(index, badges, BADGES_ROLE)
            self.setItemData(index, badges.tooltip(), Qt.ItemDataRole.ToolTipRole)

    def badges(self, path: str) -> ModelBadges | None:
        index = self.findData(path)
        value = self.itemData(index, BADGES_ROLE) if index >= 0 else None
        return value if isinstance(value, ModelBadges) else None
