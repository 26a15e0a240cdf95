"""Request bodies of the OpenAI-style endpoints → what the inference worker takes.

Everything a client can get wrong is refused here with a 400 that names the field, before the
model is touched. Fields clients commonly send with neutral values (``n: 1``,
``frequency_penalty: 0``, ``logprobs: false``) are accepted; the same fields asking for
something this server cannot do are refused rather than silently ignored. Unknown fields are
ignored, as OpenAI-compatible servers do, so newer clients keep working.

Sampling fields left out take the app's own defaults (``SamplingSettings``), not OpenAI's
(temperature 1, top_p 1), because those suit small quantized models better. OpenAI's
``frequency_penalty``/``presence_penalty`` subtract from logits and have no equivalent in the
worker; its multiplicative ``repeat_penalty`` (llama.cpp's, 1 = off) is taken as an extension
instead, like llama.cpp's server and Ollama do, and a non-zero OpenAI penalty is refused.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from desktop.engine.server.api_errors import ApiError, bad_request
from desktop.engine.worker import InvalidSettings, SamplingSettings


class ReplyKind(enum.Enum):
    CHAT = "chat"
    COMPLETION = "completion"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyRequest:
    """One validated request: either ``messages`` (chat) or ``prompt`` (completion)."""

    kind: ReplyKind
    messages: tuple[Mapping[str, str], ...] = ()
    prompt: str = ""
    sampling: SamplingSettings
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False


#: Roles a chat message may have → the role the chat template sees ("developer" is OpenAI's
#: newer name for "system").
CHAT_ROLES: MappingProxyType[str, str] = MappingProxyType(
    {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
)


def _neutral(value: Any) -> bool:
    return value is None or value is False or value == 0 or value == [] or value == {}


#: Field → (is the value something we can honour?, why not otherwise).
UNSUPPORTED_FIELDS: MappingProxyType[str, tuple[Callable[[Any], bool], str]] = MappingProxyType(
    {
        "n": (lambda v: v is None or v == 1, "Only one choice per request is supported (n: 1)."),
        "best_of": (lambda v: v is None or v == 1, "best_of is not supported."),
        "tools": (_neutral, "Tools and function calling are not supported."),
        "functions": (_neutral, "Tools and function calling are not supported."),
        "tool_choice": (lambda v: v in (None, "none"), "Tool calling is not supported."),
        "logprobs": (_neutral, "logprobs are not supported."),
        "top_logprobs": (_neutral, "logprobs are not supported."),
        "logit_bias": (_neutral, "logit_bias is not supported."),
        "echo": (_neutral, "echo is not supported."),
        "suffix": (lambda v: v in (None, ""), "suffix (fill-in-the-middle) is not supported."),
        "frequency_penalty": (
            _neutral,
            "frequency_penalty is not supported; use repeat_penalty (1 = off, e.g. 1.1).",
        ),
        "presence_penalty": (
            _neutral,
            "presence_penalty is not supported; use repeat_penalty (1 = off, e.g. 1.1).",
        ),
        "response_format": (
            lambda v: v is None or (isinstance(v, dict) and v.get("type", "text") == "text"),
            "Only plain-text responses are supported (no JSON mode or schemas).",
        ),
    }
)


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying why it is not one."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.", "invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "invalid_json")
    return body


def parse_chat(body: Mapping[str, Any], *, default_max_tokens: int) -> ReplyRequest:
    """A ``/v1/chat/completions`` body (the ``model`` field is checked by the caller)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list of {role, content} objects.")
    parsed = tuple(_message(index, message) for index, message in enumerate(messages))
    return ReplyRequest(kind=ReplyKind.CHAT, messages=parsed, **_common(body, default_max_tokens))


def parse_completion(body: Mapping[str, Any], *, default_max_tokens: int) -> ReplyRequest:
    """A ``/v1/completions`` body: ``prompt`` is one string (or a list holding one)."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_request("'prompt' must be a string (one prompt per request).")
    if not prompt:
        raise bad_request("'prompt' is empty: there is nothing to continue.")
    return ReplyRequest(
        kind=ReplyKind.COMPLETION, prompt=prompt, **_common(body, default_max_tokens)
    )


def _message(index: int, message: Any) -> Mapping[str, str]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise bad_request(f"{where} must be an object with 'role' and 'content'.")
    role = message.get("role")
    if not isinstance(role, str) or role not in CHAT_ROLES:
        roles = ", ".join(CHAT_ROLES)
        raise bad_request(
            f"{where}.role is {role!r}; supported roles are {roles} "
            "(tool and function messages are not supported)."
        )
    return MappingProxyType({"role": CHAT_ROLES[role], "content": _content(where, message)})


def _content(where: str, message: Mapping[str, Any]) -> str:
    """Message text: a string, or a list of text parts (images and audio are refused)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{where}.content must be a string or a list of text parts.")
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise bad_request(f"{where}.content has a {kind!r} part; only text is supported.")
        text = part.get("text")
        if not isinstance(text, str):
            raise bad_request(f"{where}.content has a text part without a 'text' string.")
        texts.append(text)
    return "".join(texts)


def _common(body: Mapping[str, Any], default_max_tokens: int) -> dict[str, Any]:
    for field, (acceptable, why) in UNSUPPORTED_FIELDS.items():
        if not acceptable(body.get(field)):
            raise bad_request(why, "unsupported_parameter")
    stream = _optional(body, "stream", bool) or False
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object.")
    return {
        "sampling": _sampling(body, default_max_tokens),
        "stop": _stop(body.get("stop")),
        "stream": stream,
        "include_usage": bool(stream and options and options.get("include_usage") is True),
    }


def _sampling(body: Mapping[str, Any], default_max_tokens: int) -> SamplingSettings:
    defaults = SamplingSettings()
    max_tokens = _optional(body, "max_completion_tokens", int)
    if max_tokens is None:
        max_tokens = _optional(body, "max_tokens", int)
    try:
        return SamplingSettings(
            temperature=_number(body, "temperature", defaults.temperature),
            top_p=_number(body, "top_p", defaults.top_p),
            top_k=_integer(body, "top_k", defaults.top_k),
            min_p=_number(body, "min_p", defaults.min_p),
            repeat_penalty=_number(body, "repeat_penalty", defaults.repeat_penalty),
            seed=_optional(body, "seed", int),
            max_tokens=default_max_tokens if max_tokens is None else max_tokens,
        )
    except InvalidSettings as exc:
        raise bad_request(str(exc)) from None


def _stop(value: Any) -> tuple[str, ...]:
    stops = [value] if isinstance(value, str) else value
    if stops is None:
        return ()
    if not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops):
        raise bad_request("'stop' must be a string or a list of strings.")
    if any(not stop for stop in stops):
        raise bad_request("'stop' strings must not be empty.")
    return tuple(stops)


def _optional(body: Mapping[str, Any], name: str, kind: type) -> Any:
    """``body[name]`` when present and not null, checked to be a ``kind`` (bools are not ints)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and kind is not bool:
        raise _wrong_type(name, kind)
    if kind is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, kind):
        raise _wrong_type(name, kind)
    return value


def _number(body: Mapping[str, Any], name: str, default: float) -> float:
    value = _optional(body, name, float)
    return default if value is None else value


def _integer(body: Mapping[str, Any], name: str, default: int) -> int:
    value = _optional(body, name, int)
    return default if value is None else value


def _wrong_type(name: str, kind: type) -> ApiError:
    words = {bool: "true or false", int: "a whole number", float: "a number"}
    return bad_request(f"'{name}' must be {words.get(kind, kind.__name__)}.", "invalid_type")
