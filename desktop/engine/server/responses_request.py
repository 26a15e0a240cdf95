"""OpenAI's Responses request (``/v1/responses``) → the same validated :class:`ReplyRequest` as
the chat route makes.

The body is rewritten into the chat request it means and checked by the same parser:

* ``instructions`` becomes a system message; ``input`` is a string (one user message) or a
  list of items: messages (``role`` with a string or ``input_text`` / ``output_text`` parts),
  ``function_call`` items (an earlier call) and ``function_call_output`` items (its result);
  ``reasoning`` items of earlier turns are left out;
* ``tools`` of ``type: function`` (``name``, ``description``, ``parameters``) and
  ``tool_choice``; OpenAI's hosted tools (web search, file search …) are refused;
* ``max_output_tokens``, ``temperature``, ``top_p`` as they are; ``text.format`` is the reply
  format (``json_object``, or ``json_schema`` with its ``schema``).

A request that goes on from an earlier response (``previous_response_id``) gets that
conversation's items (``response_store``) before its own; the earlier ``instructions`` are not
carried over, as OpenAI's API does. ``reasoning``, ``include``, ``metadata`` and
``truncation`` are ignored.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from desktop.engine.server.api_errors import bad_request
from desktop.engine.server.parsing import ReplyRequest, parse_chat

_TEXT_PARTS = ("input_text", "output_text", "text")


def parse_responses(
    body: Mapping[str, Any],
    *,
    default_max_tokens: int,
    earlier: Sequence[Mapping[str, Any]] = (),
) -> ReplyRequest:
    """``earlier``: the items of the conversation ``previous_response_id`` names, oldest
    first (see :meth:`ResponseStore.conversation`)."""
    chat: dict[str, Any] = {"stream": False, "messages": _messages(body, earlier)}
    for field, to in (
        ("max_output_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("tool_choice", "tool_choice"),
        ("parallel_tool_calls", "parallel_tool_calls"),
    ):
        if body.get(field) is not None:
            chat[to] = body[field]
    if isinstance(chat.get("tool_choice"), dict):
        chat["tool_choice"] = _named_choice(chat["tool_choice"])
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise bad_request("'tools' must be a list of tools.", param="tools")
        chat["tools"] = [_tool(index, tool) for index, tool in enumerate(tools)]
    text = body.get("text")
    form = text.get("format") if isinstance(text, dict) else None
    if isinstance(form, dict) and form.get("type") not in (None, "text"):
        if form.get("type") == "json_schema":
            chat["response_format"] = {"type": "json_schema", "json_schema": form}
        else:
            chat["response_format"] = form
    return parse_chat(chat, default_max_tokens=default_max_tokens)


def previous_response_id(body: Mapping[str, Any]) -> str | None:
    """The earlier response this request goes on from, if it names one."""
    previous = body.get("previous_response_id")
    if previous is None:
        return None
    if not isinstance(previous, str) or not previous:
        raise bad_request(
            "'previous_response_id' must be the id of an earlier response.",
            param="previous_response_id",
        )
    return previous


def input_items(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``input`` as a list of items (a string is one user message)."""
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    if not isinstance(given, list) or not given:
        raise bad_request("'input' must be a string or a non-empty list of items.", param="input")
    return given


def listed_items(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Input items as ``GET /v1/responses/{id}/input_items`` lists them: each with an id, a
    message's text as an ``input_text`` part (they read back as input all the same)."""
    listed = []
    for item in items:
        shown = dict(item)
        kind = shown.setdefault("type", "message")
        if kind == "message" and isinstance(shown.get("content"), str):
            shown["content"] = [{"type": "input_text", "text": shown["content"]}]
        if not shown.get("id"):
            shown["id"] = f"{'msg' if kind == 'message' else 'item'}_{secrets.token_hex(12)}"
        listed.append(shown)
    return listed


def _messages(
    body: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions:
        if not isinstance(instructions, str):
            raise bad_request("'instructions' must be a string.", param="instructions")
        messages.append({"role": "system", "content": instructions})
    for item in earlier:
        _add_item(messages, "an item of the previous response's conversation", item)
    for index, item in enumerate(input_items(body)):
        _add_item(messages, f"input[{index}]", item)
    return messages


def _add_item(messages: list[dict[str, Any]], where: str, item: Any) -> None:
    kind = item.get("type", "message") if isinstance(item, dict) else None
    if kind == "message" and isinstance(item, dict):
        messages.append({"role": item.get("role"), "content": _content(where, item)})
    elif kind == "function_call":
        call = {
            "id": item.get("call_id"),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments", "{}")},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and "tool_calls" in last:
            last["tool_calls"].append(call)  # calls made together stay one assistant turn
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        if not isinstance(output, str):
            output = _parts_text(where, output)
        messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": output})
    elif kind == "reasoning":
        return  # an earlier turn's reasoning is not sent back to the model
    else:
        raise bad_request(
            f"{where} is a {kind!r} item; messages, function_call and function_call_output "
            "are supported.",
            param="input",
        )


def _content(where: str, item: Mapping[str, Any]) -> str:
    content = item.get("content")
    return content if isinstance(content, str) else _parts_text(where, content)


def _parts_text(where: str, parts: Any) -> str:
    if not isinstance(parts, list):
        raise bad_request(f"{where} must hold a string or a list of text parts.", param="input")
    texts = []
    for part in parts:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _TEXT_PARTS or not isinstance(part.get("text"), str):
            raise bad_request(
                f"{where} has a {kind!r} part; only text is supported (this server runs text "
                "models).",
                param="input",
            )
        texts.append(part["text"])
    return "".join(texts)


def _tool(index: int, tool: Any) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
        raise bad_request(
            f"tools[{index}] is a {kind!r} tool; only functions the client runs itself can be "
            "offered to a local model.",
            param="tools",
        )
    function = {key: tool[key] for key in ("name", "description", "parameters") if key in tool}
    return {"type": "function", "function": function}


def _named_choice(choice: Mapping[str, Any]) -> Any:
    if choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice
