"""The tool fields of a chat request: ``tools``, ``tool_choice``, and the messages that carry
calls (an assistant's ``tool_calls``) and their results (``tool`` messages).

Each is checked here, with a 400 naming the field, before the model is touched. A call's
``arguments`` come as JSON text, as OpenAI sends them; chat templates expect an object (they
write it with ``tojson`` or walk its items), so the text is parsed for them, as llama.cpp's
server does. OpenAI's older ``functions`` and ``function`` messages are refused with a word on
their replacement.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from desktop.engine.server.api_errors import bad_request

#: OpenAI's ``tool_choice`` words.
TOOL_CHOICE_MODES: MappingProxyType[str, str] = MappingProxyType(
    {
        "none": "the model answers in text and calls no tool",
        "auto": "the model decides whether to call tools",
        "required": "the model must call one of the tools",
    }
)
#: A function name as OpenAI allows it.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class ToolUse:
    """The functions a reply may call and how: ``mode`` is one of :data:`TOOL_CHOICE_MODES`;
    ``only`` names the one function ``tool_choice`` requires."""

    tools: tuple[Mapping[str, Any], ...] = ()
    mode: str = "none"
    only: str | None = None

    @property
    def active(self) -> bool:
        """Whether the model is shown the tools (``tool_choice: "none"`` hides them)."""
        return bool(self.tools) and self.mode != "none"


NO_TOOLS = ToolUse()


def parse_tool_use(body: Mapping[str, Any]) -> ToolUse:
    if body.get("functions") or body.get("function_call"):
        field = "functions" if body.get("functions") else "function_call"
        raise bad_request(
            f"'{field}' is OpenAI's older form of function calling; send 'tools' and "
            "'tool_choice' instead.",
            "unsupported_parameter",
            field,
        )
    tools = _tools(body.get("tools"))
    choice = body.get("tool_choice")
    if choice is None:
        return ToolUse(tools, "auto" if tools else "none")
    if isinstance(choice, str):
        if choice not in TOOL_CHOICE_MODES:
            raise bad_request(
                f"'tool_choice' is {choice!r}; it must be one of {', '.join(TOOL_CHOICE_MODES)} "
                'or {"type": "function", "function": {"name": …}}.',
                param="tool_choice",
            )
        if choice == "required" and not tools:
            raise bad_request(
                "'tool_choice' is \"required\" but 'tools' lists no function.",
                param="tool_choice",
            )
        return ToolUse(tools, choice)
    name = _named_choice(choice)
    if name not in {tool["function"]["name"] for tool in tools}:
        raise bad_request(
            f"'tool_choice' names the function {name!r}, which 'tools' does not list.",
            param="tool_choice",
        )
    return ToolUse(tools, "required", name)


def _tools(value: Any) -> tuple[Mapping[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad_request("'tools' must be a list of functions.", "invalid_type", "tools")
    tools = tuple(_tool(index, tool) for index, tool in enumerate(value))
    names = [tool["function"]["name"] for tool in tools]
    if len(set(names)) < len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise bad_request(f"'tools' lists the function {twice!r} twice.", param="tools")
    return tools


def _tool(index: int, tool: Any) -> Mapping[str, Any]:
    where = f"tools[{index}]"
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        raise bad_request(
            f'{where} must be {{"type": "function", "function": {{…}}}}; only functions '
            "can be called.",
            param="tools",
        )
    function = tool.get("function")
    if not isinstance(function, dict):
        raise bad_request(f"{where}.function must be an object.", param="tools")
    name = function.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise bad_request(
            f"{where}.function.name must be 1 to 64 letters, digits, '_' or '-'.", param="tools"
        )
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise bad_request(f"{where}.function.parameters must be a JSON schema.", param="tools")
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise bad_request(f"{where}.function.description must be a string.", param="tools")
    shown: dict[str, Any] = {"name": name}
    if description is not None:
        shown["description"] = description
    shown["parameters"] = parameters if parameters is not None else {"type": "object"}
    return MappingProxyType({"type": "function", "function": shown})


def _named_choice(choice: Any) -> str:
    name = None
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise bad_request(
            '\'tool_choice\' must be "none", "auto", "required" or '
            '{"type": "function", "function": {"name": …}}.',
            param="tool_choice",
        )
    return name


def tool_calls_of(where: str, message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An assistant message's ``tool_calls``, as chat templates read them."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        raise bad_request(f"{where}.tool_calls must be a list of calls.", param="messages")
    return [_past_call(f"{where}.tool_calls[{index}]", call) for index, call in enumerate(calls)]


def _past_call(where: str, call: Any) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise bad_request(
            f'{where} must be {{"id": …, "type": "function", "function": '
            '{"name": …, "arguments": …}}.',
            param="messages",
        )
    arguments = function.get("arguments", "{}")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            raise bad_request(
                f"{where}.function.arguments is not valid JSON.", param="messages"
            ) from None
    if not isinstance(arguments, dict):
        raise bad_request(f"{where}.function.arguments must be a JSON object.", param="messages")
    call_id = call.get("id")
    shown: dict[str, Any] = {
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments},
    }
    if isinstance(call_id, str):
        shown["id"] = call_id
    return shown


def tool_result_fields(where: str, message: Mapping[str, Any]) -> dict[str, str]:
    """A ``tool`` message's reference to the call it answers (and the function's name)."""
    fields = {}
    for name in ("tool_call_id", "name"):
        value = message.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise bad_request(f"{where}.{name} must be a string.", param="messages")
            fields[name] = value
    return fields
