"""What a person types into ``quantdesk chat``: messages, and commands as Ollama's prompt has.

A line whose first word is a slash and letters (``/bye``, ``/clear``, ``/help``) is a command
for the chat, not a message; other text starting with a slash (``/usr/bin is…``) is a
message. A message of several lines goes between triple quotes: a line starting with
``\"\"\"`` opens it, a line ending with ``\"\"\"`` closes it.
"""

from __future__ import annotations

import contextlib
import enum
import re
import sys
from dataclasses import dataclass
from typing import TextIO

#: Opens and closes a message of several lines.
MULTILINE_QUOTES = '"""'
_COMMAND_WORD = re.compile(r"/[A-Za-z?]+")


class ChatAction(enum.Enum):
    QUIT = "quit"
    CLEAR = "clear"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class ChatCommand:
    names: tuple[str, ...]
    action: ChatAction
    help: str


#: The commands, in the order /help lists them.
CHAT_COMMANDS: tuple[ChatCommand, ...] = (
    ChatCommand(("/clear",), ChatAction.CLEAR, "forget the conversation (a system message stays)"),
    ChatCommand(("/bye", "/exit", "/quit"), ChatAction.QUIT, "end the chat (Ctrl-D does too)"),
    ChatCommand(("/help", "/?"), ChatAction.HELP, "list these commands"),
)
_BY_NAME = {name: command for command in CHAT_COMMANDS for name in command.names}


class UnknownChatCommand(Exception):
    """A slash word that names no command; its text says so and what to type instead."""


def chat_command_in(text: str) -> ChatCommand | None:
    """The command ``text`` is, or None for a message to the model.

    Raises :class:`UnknownChatCommand` for a slash word that is no command (a typo of one)."""
    words = text.split()
    if not words or not _COMMAND_WORD.fullmatch(words[0]):
        return None
    command = _BY_NAME.get(words[0].lower())
    if command is None:
        raise UnknownChatCommand(f"Unknown command {words[0]}; /help lists the commands.")
    return command


def help_text() -> str:
    """The commands and the triple quotes, a line each, as /help lists them."""
    rows = [(", ".join(command.names), command.help) for command in CHAT_COMMANDS]
    rows.append((f"{MULTILINE_QUOTES}…{MULTILINE_QUOTES}", "a message of several lines"))
    return "\n".join(f"  {names:<20} {what}" for names, what in rows)


def read_message(stdin: TextIO, stdout: TextIO) -> str | None:
    """The next line, or the lines between triple quotes; None at end of input or on Ctrl-C
    at the prompt. On a terminal it prompts with ``>`` (``...`` inside quotes), and the line
    can be edited and earlier ones recalled, as at a shell's prompt."""
    first = _read_line(stdin, stdout, "> ")
    if first is None or not first.lstrip().startswith(MULTILINE_QUOTES):
        return first
    text = first.lstrip()[len(MULTILINE_QUOTES) :]
    lines: list[str] = []
    while not text.rstrip().endswith(MULTILINE_QUOTES):
        lines.append(text)
        line = _read_line(stdin, stdout, "... ")
        if line is None:  # the input ended inside the quotes: what came is the message
            return "\n".join(lines).strip("\n")
        text = line
    lines.append(text.rstrip()[: -len(MULTILINE_QUOTES)])
    return "\n".join(lines).strip("\n")


def _read_line(stdin: TextIO, stdout: TextIO, prompt: str) -> str | None:
    try:
        if stdin.isatty() and stdin is sys.stdin and stdout is sys.stdout:
            _enable_line_editing()
            return input(prompt)  # arrow keys edit the line, up and down recall earlier ones
        line = stdin.readline()
    except EOFError:
        return None
    except KeyboardInterrupt:
        stdout.write("\n")
        return None
    return line.rstrip("\n") if line else None


def _enable_line_editing() -> None:
    """``input()`` edits lines and keeps a history once ``readline`` is loaded (Linux, macOS;
    Windows' console edits lines by itself)."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - loading it is what switches editing on
