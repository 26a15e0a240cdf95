"""Tools for a model whose chat template has no place for them (Gemma, Phi, base models with
the ChatML fallback), as LM Studio's "default tool use" and llama.cpp's server offer them.

The functions are described in the system message (when the conversation has none: at the
start of its first user turn, as some templates, Gemma 2's, refuse a system role), with the
way to call one: Hermes'
``<tool_call>{"name": …, "arguments": {…}}</tool_call>``, which the reply is then read in
(``tool_calls.HERMES``; ``tool_choice: "required"`` binds it to that syntax's grammar as for
any template). The conversation is rewritten into plain turns the template can render: an
assistant's earlier calls become its text in that syntax, and a ``tool`` message becomes a
user turn holding ``<tool_response>…</tool_response>``; turns of the same role that end up
next to each other are joined, for templates that insist user and assistant alternate.
How well a model follows the description depends on the model: one trained for tools
through its own template does better with that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from desktop.engine.server.tool_calls import HERMES, ToolSyntax

#: The syntax the description teaches, and that the reply is read in.
PROMPTED_SYNTAX: ToolSyntax = HERMES

_INSTRUCTIONS = (
    "You can call the functions below. To call one, reply with only\n"
    '<tool_call>{{"name": "<function name>", "arguments": {{<arguments as JSON>}}}}'
    "</tool_call>\n"
    "(one such block per call) and wait for its result, which comes back as "
    "<tool_response>…</tool_response>. Call a function only when it helps with the request; "
    "otherwise answer normally.\n\nFunctions:\n{functions}"
)


def prompted_messages(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], ...]:
    """``messages`` with ``tools`` described (see the module's notes), every turn plain text."""
    described = _INSTRUCTIONS.format(functions="\n".join(_function_line(tool) for tool in tools))
    turns: list[dict[str, Any]] = []
    for message in messages:
        role, text = _plain_turn(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + text
        else:
            turns.append({"role": role, "content": text})
    first = next((turn for turn in turns if turn["role"] in ("system", "user")), None)
    if first is None:
        turns.insert(0, {"role": "user", "content": described})
    else:
        first["content"] = described + "\n\n" + first["content"]
    return tuple(turns)


def _function_line(tool: Mapping[str, Any]) -> str:
    function = tool["function"]
    shown = {
        "name": function["name"],
        "description": function.get("description", ""),
        "parameters": function.get("parameters") or {"type": "object", "properties": {}},
    }
    return json.dumps(shown, ensure_ascii=False)


def _plain_turn(message: Mapping[str, Any]) -> tuple[str, str]:
    role = message.get("role")
    content = message.get("content") or ""
    if role == "tool":
        return "user", f"<tool_response>\n{content}\n</tool_response>"
    calls = message.get("tool_calls") or ()
    if role == "assistant" and calls:
        blocks = [_call_block(call) for call in calls]
        content = "\n".join([content, *blocks]) if content else "\n".join(blocks)
    return str(role), str(content)


def _call_block(call: Mapping[str, Any]) -> str:
    function = call["function"]  # its arguments an object, as the request parser leaves them
    written = json.dumps(
        {"name": function["name"], "arguments": function["arguments"]}, ensure_ascii=False
    )
    return f"{PROMPTED_SYNTAX.opening}{written}{PROMPTED_SYNTAX.closing}"
