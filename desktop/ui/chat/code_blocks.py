"""Code in rendered replies: a monospace font on a tinted background, no syntax highlighter.

Qt's Markdown reader already marks what is code: every line of a fenced or indented block
carries the ``BlockCodeLanguage`` block property, and inline code gets a fixed-pitch character
format. Styling those marks after each render costs one pass over the blocks, so a streaming
reply (re-rendered every few tens of milliseconds) stays cheap, and no ``QSyntaxHighlighter``
has to re-run on every change.
"""

from __future__ import annotations

from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)

#: How strongly the text colour tints a code background (0–255): visible in light and dark.
TINT_ALPHA = 28


def code_tint(text_colour: QColor) -> QColor:
    """The background of code: the text colour, mostly transparent (works on any theme)."""
    tint = QColor(text_colour)
    tint.setAlpha(TINT_ALPHA)
    return tint


def style_code(document: QTextDocument, tint: QColor) -> int:
    """Give the document's code a monospace font and ``tint`` behind it; returns how many
    lines of code blocks were styled (inline code is styled too, not counted)."""
    mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    code_chars = QTextCharFormat()
    code_chars.setFontFamilies(mono.families())
    code_chars.setFontFixedPitch(True)
    inline_chars = QTextCharFormat(code_chars)
    inline_chars.setBackground(tint)
    code_block = QTextBlockFormat()
    code_block.setBackground(tint)
    code_block.setLeftMargin(4)
    code_block.setRightMargin(4)
    block_starts, inline_spans = _code_positions(document)
    cursor = QTextCursor(document)
    cursor.beginEditBlock()
    for start in block_starts:
        cursor.setPosition(start)
        cursor.mergeBlockFormat(code_block)
        cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(code_chars)
    for start, end in inline_spans:
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(inline_chars)
    cursor.endEditBlock()
    return len(block_starts)


def _code_positions(document: QTextDocument) -> tuple[list[int], list[tuple[int, int]]]:
    """Where code is, found before anything changes (formatting splits and merges fragments)."""
    block_starts: list[int] = []
    inline_spans: list[tuple[int, int]] = []
    block = document.begin()
    while block.isValid():
        if block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeLanguage):
            block_starts.append(block.position())
        else:
            fragments = block.begin()
            while not fragments.atEnd():
                fragment = fragments.fragment()
                if fragment.charFormat().fontFixedPitch():
                    inline_spans.append(
                        (fragment.position(), fragment.position() + fragment.length())
                    )
                fragments += 1
        block = block.next()
    return block_starts, inline_spans
