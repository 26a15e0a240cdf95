"""The terminal chat's input: commands, messages that only start with a slash, triple quotes."""

from __future__ import annotations

import io

import pytest

from desktop.commands.chat_input import (
    CHAT_COMMANDS,
    ChatAction,
    UnknownChatCommand,
    chat_command_in,
    help_text,
    read_message,
)


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
