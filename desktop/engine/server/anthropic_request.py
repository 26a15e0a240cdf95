"""Anthropic's Messages request (``/v1/messages``) → the same validated :class:`ReplyRequest`
as OpenAI's routes make.

The body is rewritten into the OpenAI request it means and checked by the same parser:

* ``system`` (a string or text blocks) becomes the first message;
* a message's ``content`` is a string or blocks: ``text``; an assistant's ``tool_use``
  (a call, its ``input`` an object) becomes an OpenAI call; a user's ``tool_result`` becomes a
  ``tool`` message answering that call; ``thinking`` blocks of earlier turns are left out;
  images and documents are refused (this server runs text models);
* ``tools`` (``name``, ``description``, ``input_schema``) are functions; Anthropic's server
  tools (web search, code execution …) are refused; ``tool_choice`` ``auto``, ``any``
  (OpenAI's ``required``), ``tool`` (a named one) and ``none``;
* ``max_tokens``, ``stop_sequences``, ``temperature``, ``top_p`` and ``top_k`` as they are.

``metadata``, ``service_tier`` and blocks' ``cache_control`` change nothing a local model
does and are ignored, as clients such as Claude Code send them by default; ``thinking``
(``enabled``) gives a reasoning model's thinking as a ``thinking`` block before the text
(``anthropic_api``), and changes nothing for other models.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from desktop.engine.server.api_errors import bad_request
from desktop.engine.server.parsing import ReplyRequest, parse_chat

#: Anthropic's ``tool_choice`` type → OpenAI's ``tool_choice``.
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def parse_messages(body: Mapping[str, Any], *, default_max_tokens: int) -> ReplyRequest:
    return parse_chat(openai_body(body), default_max_tokens=default_max_tokens)


def openai_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI chat request ``body`` means (also for counting its tokens)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list of messages.", param="messages")
    openai: dict[str, Any] = {"stream": False}  # each front end streams in its own shape
    system = _text(body.get("system") or "", "system")
    converted = [{"role": "system", "content": system}] if system else []
    for index, message in enumerate(messages):
        converted += _messages(index, message)
    openai["messages"] = converted
    for field, to in (
        ("max_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
        ("stop_sequences", "stop"),
    ):
        if body.get(field) is not None:
            openai[to] = body[field]
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise bad_request("'tools' must be a list of tools.", param="tools")
        openai["tools"] = [_tool(index, tool) for index, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if choice is not None:
        openai["tool_choice"] = _tool_choice(choice)
    return openai


def _messages(index: int, message: Any) -> list[dict[str, Any]]:
    """One Anthropic message as OpenAI messages (tool results become messages of their own)."""
    where = f"messages[{index}]"
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        raise bad_request(f"{where} must have the role user or assistant.", param="messages")
    role, content = message["role"], message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise bad_request(
            f"{where}.content must be a string or a list of blocks.", param="messages"
        )
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use" and role == "assistant":
            calls.append(_call(where, block))
        elif kind == "tool_result" and role == "user":
            results.append(_result(where, block))
        elif kind in ("thinking", "redacted_thinking"):
            continue  # an earlier turn's reasoning is not sent back to the model
        else:
            raise bad_request(
                f"{where}.content has a {kind!r} block; text, tool_use and tool_result are "
                "supported (this server runs text models).",
                param="messages",
            )
    text = "".join(texts)
    if calls:
        return [{"role": "assistant", "content": text or None, "tool_calls": calls}]
    if not results:
        return [{"role": role, "content": text}]
    return [*results, *([{"role": "user", "content": text}] if text else [])]


def _call(where: str, block: Mapping[str, Any]) -> dict[str, Any]:
    name, arguments = block.get("name"), block.get("input", {})
    if not isinstance(name, str) or not isinstance(arguments, dict):
        raise bad_request(
            f"{where} has a tool_use block without a name and an input object.", param="messages"
        )
    function = {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}
    return {"id": str(block.get("id", "")), "type": "function", "function": function}


def _result(where: str, block: Mapping[str, Any]) -> dict[str, Any]:
    content = block.get("content", "")
    text = content if isinstance(content, str) else _text(content, f"{where}.tool_result")
    if block.get("is_error"):
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text}


def _text(value: Any, where: str) -> str:
    """A string, or the text of a list of text blocks."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(block, dict) and block.get("type") == "text" for block in value
    ):
        return "".join(str(block.get("text", "")) for block in value)
    raise bad_request(f"{where} must be a string or a list of text blocks.", param="messages")


def _tool(index: int, tool: Any) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type", "custom") != "custom":
        kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
        raise bad_request(
            f"tools[{index}] is a {kind!r} tool; only tools this client runs itself (with an "
            "input_schema) can be offered to a local model.",
            param="tools",
        )
    function = {"name": tool.get("name"), "parameters": tool.get("input_schema")}
    if tool.get("description") is not None:
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    if kind in _TOOL_CHOICES:
        return _TOOL_CHOICES[kind]
    raise bad_request(
        '\'tool_choice\' must be {"type": "auto"}, {"type": "any"}, {"type": "none"} '
        'or {"type": "tool", "name": …}.',
        param="tool_choice",
    )
