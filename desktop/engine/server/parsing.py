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
llama.cpp's server's ``n_predict`` is taken as ``max_tokens`` (clients written for it send it).
"""

from __future__ import annotations

import enum
import json
import re
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
        "grammar": (_neutral, "Grammars are not supported."),
        "json_schema": (_neutral, "JSON schemas are not supported."),
        "n_probs": (_neutral, "Token probabilities (n_probs) are not supported."),
        # vLLM's and llama.cpp's server's prompt options: the reply always starts a new turn
        "continue_final_message": (
            _neutral,
            "Continuing the last assistant message (continue_final_message) is not supported.",
        ),
        "add_generation_prompt": (
            lambda v: v is None or v is True,
            "add_generation_prompt: false is not supported; the reply is a new assistant turn.",
        ),
        "response_format": (
            lambda v: v is None or (isinstance(v, dict) and v.get("type", "text") == "text"),
            "Only plain-text responses are supported (no JSON mode or schemas).",
        ),
    }
)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying why it is not one.

    Python's parser also takes ``NaN``/``Infinity`` and lone UTF-16 surrogates (``"\\ud800"``),
    which are not JSON text a model can read, and recurses on nesting: all refused here.
    """
    try:
        text = raw.decode("utf-8")
        if _nesting_depth(text) > MAX_JSON_DEPTH:
            raise ValueError(f"it is nested more than {MAX_JSON_DEPTH} levels deep")
        body = json.loads(text, parse_constant=_refuse_constant)
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # lone surrogates fail here
    except (UnicodeError, ValueError, RecursionError) as exc:
        reason = "it contains a lone surrogate" if isinstance(exc, UnicodeEncodeError) else exc
        raise bad_request(
            f"The request body is not valid JSON: {reason}.", "invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "invalid_json")
    return body


#: Deeper nesting is refused before parsing (a chat request needs about 5 levels).
MAX_JSON_DEPTH = 64


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _nesting_depth(text: str) -> int:
    """How deeply ``text`` nests arrays and objects (brackets inside strings do not count)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_chat(body: Mapping[str, Any], *, default_max_tokens: int) -> ReplyRequest:
    """A ``/v1/chat/completions`` body (the ``model`` field is checked by the caller)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request(
            "'messages' must be a non-empty list of {role, content} objects.", param="messages"
        )
    parsed = tuple(_message(index, message) for index, message in enumerate(messages))
    return ReplyRequest(kind=ReplyKind.CHAT, messages=parsed, **_common(body, default_max_tokens))


def parse_completion(body: Mapping[str, Any], *, default_max_tokens: int) -> ReplyRequest:
    """A ``/v1/completions`` body: ``prompt`` is one string (or a list holding one)."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_request("'prompt' must be a string (one prompt per request).", param="prompt")
    if not prompt:
        raise bad_request("'prompt' is empty: there is nothing to continue.", param="prompt")
    return ReplyRequest(
        kind=ReplyKind.COMPLETION, prompt=prompt, **_common(body, default_max_tokens)
    )


def _message(index: int, message: Any) -> Mapping[str, str]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise bad_request(f"{where} must be an object with 'role' and 'content'.", param="messages")
    role = message.get("role")
    if not isinstance(role, str) or role not in CHAT_ROLES:
        roles = ", ".join(CHAT_ROLES)
        raise bad_request(
            f"{where}.role is {role!r}; supported roles are {roles} "
            "(tool and function messages are not supported).",
            param="messages",
        )
    return MappingProxyType({"role": CHAT_ROLES[role], "content": _content(where, message)})


def _content(where: str, message: Mapping[str, Any]) -> str:
    """Message text: a string, or a list of text parts (images and audio are refused)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(
            f"{where}.content must be a string or a list of text parts.", param="messages"
        )
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise bad_request(
                f"{where}.content has a {kind!r} part; only text is supported.", param="messages"
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise bad_request(
                f"{where}.content has a text part without a 'text' string.", param="messages"
            )
        texts.append(text)
    return "".join(texts)


def _common(body: Mapping[str, Any], default_max_tokens: int) -> dict[str, Any]:
    for field, (acceptable, why) in UNSUPPORTED_FIELDS.items():
        if not acceptable(body.get(field)):
            raise bad_request(why, "unsupported_parameter", field)
    stream = _optional(body, "stream", bool) or False
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object.", param="stream_options")
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
    if max_tokens is None:  # llama.cpp's server's name for it; -1 means no limit there too
        max_tokens = _optional(body, "n_predict", int)
        if max_tokens == -1:
            max_tokens = None
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
        raise bad_request("'stop' must be a string or a list of strings.", param="stop")
    if any(not stop for stop in stops):
        raise bad_request("'stop' strings must not be empty.", param="stop")
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
    return bad_request(f"'{name}' must be {words.get(kind, kind.__name__)}.", "invalid_type", name)
