"""The terminal chat's input: commands, messages that only start with a slash, triple quotes."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys

import pytest

from desktop.commands.chat_input import (
    CHAT_COMMANDS,
    ChatAction,
    UnknownChatCommand,
    chat_command_in,
    help_text,
    read_message,
)
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("/bye", ChatAction.QUIT),
        ("  /EXIT  ", ChatAction.QUIT),
        ("/clear", ChatAction.CLEAR),
        ("/?", ChatAction.HELP),
        ("Hello /bye", None),
        ("/usr/bin holds programs", None),
        ("", None),
    ],
)
def test_a_slash_word_is_a_command(text: str, action: ChatAction | None) -> None:
    command = chat_command_in(text)
    assert (command.action if command else None) is action


def test_a_typo_of_a_command_is_not_sent_as_a_message() -> None:
    with pytest.raises(UnknownChatCommand, match=r"^Unknown command /cler; /help lists"):
        chat_command_in("/cler")


def test_help_lists_every_command_name() -> None:
    text = help_text()
    assert all(name in text for command in CHAT_COMMANDS for name in command.names)


def _messages(typed: str) -> list[str]:
    stdin, stdout = io.StringIO(typed), io.StringIO()
    messages = []
    while (message := read_message(stdin, stdout)) is not None:
        messages.append(message)
    assert stdout.getvalue() == ""  # no prompts when the input is not a terminal
    return messages


def test_triple_quotes_hold_several_lines() -> None:
    typed = 'plain\n"""first\n  indented\n\nlast"""\n"""one line"""\n"""\nopened alone\n"""\n'
    assert _messages(typed) == [
        "plain",
        "first\n  indented\n\nlast",
        "one line",
        "opened alone",
    ]


def test_input_that_ends_inside_quotes_keeps_what_came() -> None:
    assert _messages('"""never\nclosed\n') == ["never\nclosed"]


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is a POSIX facility")
def test_a_terminal_line_can_be_edited_with_the_arrow_keys() -> None:
    """On a terminal the prompt edits lines as a shell's does: two left arrows, then a letter
    typed in the middle (read from a pipe, the escape codes would be part of the message)."""
    import pty

    controller, terminal = pty.openpty()
    script = (
        "import sys; from desktop.commands.chat_input import read_message; "
        "print(repr(read_message(sys.stdin, sys.stdout)))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=REPO_ROOT,
    )
    os.close(terminal)
    try:
        os.write(controller, b"abc\x1b[D\x1b[DX\r")
        output = b""
        while True:  # until the child exits and the terminal's other end closes
            ready, _, _ = select.select([controller], [], [], 30)
            assert ready, output
            try:
                chunk = os.read(controller, 1024)
            except OSError:  # Linux: EIO once no process holds the terminal
                break
            if not chunk:  # macOS
                break
            output += chunk
        assert child.wait(timeout=30) == 0, output
    finally:
        os.close(controller)
        if child.poll() is None:
            child.kill()
    assert output.splitlines()[-1].strip() == b"'aXbc'"
