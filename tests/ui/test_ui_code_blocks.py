"""Code in replies renders in a monospace font on a tinted background; prose does not."""

from __future__ import annotations

from PySide6.QtGui import QFontInfo, QTextCursor, QTextFormat
from pytestqt.qtbot import QtBot

from desktop.ui.chat.transcript import MessageWidget

REPLY = """Use `sorted` here:

```python
def ladder(levels):
    return sorted(levels)
```

Then print it.
"""


def _block(widget: MessageWidget, text: str) -> QTextCursor:
    block = widget.body.document().find(text).block()
    assert block.isValid(), text
    cursor = QTextCursor(block)
    cursor.movePosition(QTextCursor.MoveOperation.NextCharacter)  # inside the first character
    return cursor


def test_fenced_and_inline_code_get_a_monospace_font_and_a_background(qtbot: QtBot) -> None:
    widget = MessageWidget("assistant", REPLY, 1)
    qtbot.addWidget(widget)
    for line in ("def ladder(levels):", "    return sorted(levels)"):
        cursor = _block(widget, line)
        assert cursor.blockFormat().hasProperty(QTextFormat.Property.BackgroundBrush)
        assert QFontInfo(cursor.charFormat().font()).fixedPitch(), line
    prose = _block(widget, "Then print it.")
    assert not prose.blockFormat().hasProperty(QTextFormat.Property.BackgroundBrush)
    assert not QFontInfo(prose.charFormat().font()).fixedPitch()
    inline = widget.body.document().find("sorted")  # the first one: inline code in the prose
    assert inline.charFormat().background().color().alpha() > 0
    assert not inline.blockFormat().hasProperty(QTextFormat.Property.BackgroundBrush)


def test_a_streamed_reply_keeps_its_code_styled_as_it_grows(qtbot: QtBot) -> None:
    widget = MessageWidget("assistant", "", 1)
    qtbot.addWidget(widget)
    for piece in ("Code:\n\n```\n", "x = 1\n", "y = 2\n", "```\n"):
        widget.append(piece)
        widget.render_now()
    for line in ("x = 1", "y = 2"):
        assert _block(widget, line).blockFormat().hasProperty(QTextFormat.Property.BackgroundBrush)
    assert widget.body.toPlainText().startswith("Code:")


def test_user_messages_stay_plain_text(qtbot: QtBot) -> None:
    widget = MessageWidget("user", "```\nnot rendered\n```", 0)
    qtbot.addWidget(widget)
    assert widget.body.toPlainText() == "```\nnot rendered\n```"
