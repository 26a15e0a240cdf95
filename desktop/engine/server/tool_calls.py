"""Tool calls in a chat reply: the syntax a model's chat template taught it, the calls read out
of the generated text (also while it streams), and the format that forces a call.

A model writes a call the way its chat template shows it; llama.cpp's server, too, tells the
families apart by their templates. The families read here:

* Hermes, Qwen 2.5 and Qwen 3: ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``, one
  block per call, possibly after some text;
* Mistral (Nemo and later): ``[TOOL_CALLS][{"name": …, "arguments": {…}}, …]``, where
  ``[TOOL_CALLS]`` is a control token that the reply's text may not show, so a reply that is
  a JSON array of calls counts too;
* Llama 3.1 and 3.2: the whole reply is ``{"name": …, "parameters": {…}}``.

Text that only looks like the start of a call is held back while a reply streams, so a client
never sees half a call as content. Text that claims to be a call but is not one (broken JSON,
no name, a function the request did not offer) is given back as content, as llama.cpp's
server does, rather than lost.
``tool_choice: "required"`` (or a named function) binds the reply to a grammar: the syntax's
opening text, JSON matching one of the allowed functions, its closing text.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from desktop.engine.partial_mark import partial_mark_length
from desktop.engine.worker import FormatKind, ReplyFormat


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call: its id, the function's name and its arguments as JSON text (OpenAI's shape)."""

    id: str
    name: str
    arguments: str

    def as_openai(self, index: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }
        return body if index is None else {"index": index, **body}


@dataclass(frozen=True, slots=True)
class ToolSyntax:
    """How one family of models writes its calls."""

    name: str
    #: Text found only in this family's templates.
    marks: tuple[str, ...]
    #: Where the calls begin ("" when only the reply's first character tells).
    opening: str
    #: Where one call ends ("": the calls run to the end of the reply).
    closing: str
    #: The key holding a call's arguments.
    arguments_key: str
    #: The calls are one JSON array (else one object per block).
    as_list: bool
    #: The reply's first character that starts calls when ``opening`` is not shown.
    bare_start: str
    #: Text a forced call starts and ends with.
    forced_opening: str
    forced_closing: str

    def call_id(self) -> str:
        """A new call's id (Mistral's templates insist on 9 letters and digits)."""
        if self.name == "mistral":
            return "".join(secrets.choice(_ID_CHARACTERS) for _ in range(9))
        return f"call_{secrets.token_hex(12)}"


_ID_CHARACTERS = string.ascii_letters + string.digits

HERMES = ToolSyntax(
    name="hermes",
    marks=("<tool_call>",),
    opening="<tool_call>",
    closing="</tool_call>",
    arguments_key="arguments",
    as_list=False,
    bare_start="",
    forced_opening="<tool_call>\n",
    forced_closing="\n</tool_call>",
)
MISTRAL = ToolSyntax(
    name="mistral",
    marks=("[TOOL_CALLS]",),
    opening="[TOOL_CALLS]",
    closing="",
    arguments_key="arguments",
    as_list=True,
    bare_start="[",
    forced_opening="",
    forced_closing="",
)
LLAMA3 = ToolSyntax(
    name="llama3",
    marks=('"parameters": dictionary of argument name',),
    opening="<|python_tag|>",
    closing="",
    arguments_key="parameters",
    as_list=False,
    bare_start="{",
    forced_opening="",
    forced_closing="",
)
#: The families, in the order their marks are looked for.
SYNTAXES: tuple[ToolSyntax, ...] = (HERMES, MISTRAL, LLAMA3)
#: A template that shows tools without a family's marks: Hermes', the most common one.
DEFAULT_SYNTAX = HERMES


def syntax_of(template: str) -> ToolSyntax:
    """The syntax a chat template (one that takes tools) teaches."""
    for syntax in SYNTAXES:
        if any(mark in template for mark in syntax.marks):
            return syntax
    return DEFAULT_SYNTAX


class ToolCallReader:
    """Splits one reply's text, as it arrives, into content and tool calls.

    :meth:`push` returns the text that is surely content; :meth:`finish` returns the rest of
    the content and the calls. ``names``: the functions the request offers (a call of any
    other is not taken for one).
    """

    def __init__(self, syntax: ToolSyntax, names: Collection[str]) -> None:
        self._syntax = syntax
        self._names = frozenset(names)
        self._shown = ""  # content given out so far
        self._held = ""  # text not given out yet
        self._calling = False

    def push(self, text: str) -> str:
        self._held += text
        if self._calling:
            return ""
        syntax = self._syntax
        at = self._held.find(syntax.opening) if syntax.opening else -1
        if at >= 0:
            self._calling = True
            return self._show(at)
        if syntax.bare_start and not self._shown.strip():
            start = self._held.lstrip()
            if start.startswith(syntax.bare_start):
                self._calling = True
                return ""
            if not start:  # nothing but spaces yet: the next character decides
                return ""
        return self._show(len(self._held) - partial_mark_length(self._held, syntax.opening))

    def finish(self) -> tuple[str, tuple[ToolCall, ...]]:
        """The content not given out yet, and the calls (none when the text is not calls)."""
        rest, self._held = self._held, ""
        if not self._calling:
            return rest, ()
        calls, after = _read_calls(rest, self._syntax, self._names)
        if calls is None:
            return rest, ()
        return after, calls

    def _show(self, upto: int) -> str:
        shown, self._held = self._held[:upto], self._held[upto:]
        self._shown += shown
        return shown


def split_reply(
    text: str, syntax: ToolSyntax, names: Collection[str]
) -> tuple[str, tuple[ToolCall, ...]]:
    """A whole reply's content and calls (of the functions ``names``)."""
    reader = ToolCallReader(syntax, names)
    shown = reader.push(text)
    rest, calls = reader.finish()
    return shown + rest, calls


def _read_calls(
    text: str, syntax: ToolSyntax, names: frozenset[str]
) -> tuple[tuple[ToolCall, ...] | None, str]:
    """The calls at the start of ``text`` (None: not calls) and the text after them."""
    body = text.strip()
    if syntax.opening and body.startswith(syntax.opening):
        body = body[len(syntax.opening) :].lstrip()
    if syntax.as_list or not syntax.closing:
        found, after = _leading_json(body)
        items = found if isinstance(found, list) and syntax.as_list else [found]
        calls = [_call(item, syntax, names) for item in items]
        if found is None or not calls or None in calls:
            return None, ""
        return tuple(call for call in calls if call is not None), after
    calls_found: list[ToolCall] = []
    after = text
    while syntax.opening in after:
        before, _, block = after.partition(syntax.opening)
        if before.strip() and calls_found:
            break  # text between calls ends them; it stays content
        inside, _, after = block.partition(syntax.closing)
        found, _ = _leading_json(inside.strip())
        call = _call(found, syntax, names)
        if call is None:
            return None, ""
        calls_found.append(call)
    return (tuple(calls_found) or None), after.strip()


def _leading_json(text: str) -> tuple[Any, str]:
    """The JSON value ``text`` starts with and what follows it (None: no JSON there)."""
    try:  # not strict: a grammar-bound string may hold control characters a model wrote
        value, end = json.JSONDecoder(strict=False).raw_decode(text)
    except ValueError:
        return None, ""
    return value, text[end:].strip()


def _call(item: Any, syntax: ToolSyntax, names: frozenset[str]) -> ToolCall | None:
    if not isinstance(item, dict) or item.get("name") not in names:
        return None
    arguments = item.get(syntax.arguments_key, item.get("arguments", {}))
    if isinstance(arguments, str):  # some models write the arguments as JSON text already
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(syntax.call_id(), item["name"], json.dumps(arguments, ensure_ascii=False))


def forced_call_format(
    syntax: ToolSyntax, tools: Sequence[Mapping[str, Any]], only: str | None = None
) -> ReplyFormat:
    """The format that makes a reply one call of ``tools`` (of the function ``only``, when
    named), written as ``syntax`` writes calls."""
    chosen = [tool["function"] for tool in tools if only in (None, tool["function"]["name"])]
    shapes = [
        {
            "type": "object",
            "properties": {
                "name": {"const": function["name"]},
                syntax.arguments_key: function.get("parameters") or {"type": "object"},
            },
            "required": ["name", syntax.arguments_key],
        }
        for function in chosen
    ]
    call = shapes[0] if len(shapes) == 1 else {"anyOf": shapes}
    schema = (
        {"type": "array", "items": call, "minItems": 1, "maxItems": 1} if syntax.as_list else call
    )
    spec = {"opening": syntax.forced_opening, "closing": syntax.forced_closing, "schema": schema}
    return ReplyFormat(FormatKind.WRAPPED_JSON, json.dumps(spec))
