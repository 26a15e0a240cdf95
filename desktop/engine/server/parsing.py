"""Request bodies of the OpenAI-style endpoints → what the inference worker takes.

Everything a client can get wrong is refused here with a 400 that names the field, before the
model is touched. Fields clients commonly send with neutral values (``best_of: 1``,
``frequency_penalty: 0``) are accepted; the same fields asking for something
this server cannot do are refused rather than silently ignored. Unknown fields are ignored,
as OpenAI-compatible servers do, so newer clients keep working.

The reply can be bound to a grammar: OpenAI's ``response_format`` (``json_object``, or
``json_schema`` with its ``schema``; llama.cpp's server also takes a ``schema`` beside
``json_object``), llama.cpp's server's ``json_schema`` (a schema) and ``grammar`` (GBNF).
Only the shape of these fields is checked here; the worker turns a schema into a grammar and
has llama.cpp parse it, and refuses what cannot be used before generating anything.
Log-probabilities come in OpenAI's two shapes: chat's ``logprobs: true`` with
``top_logprobs`` alternatives (0–20), and completions' ``logprobs: N`` (the number of
alternatives). ``n`` asks for several choices of one prompt.

Sampling fields left out take the app's own defaults (``SamplingSettings``), not OpenAI's
(temperature 1, top_p 1), because those suit small quantized models better. OpenAI's
``frequency_penalty``/``presence_penalty`` subtract from logits and have no equivalent in the
worker; its multiplicative ``repeat_penalty`` (llama.cpp's, 1 = off) is taken as an extension
instead, like llama.cpp's server and Ollama do, and a non-zero OpenAI penalty is refused.
llama.cpp's server's ``n_predict`` is taken as ``max_tokens`` (clients written for it send it).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from desktop.engine.server.api_errors import ApiError, bad_request
from desktop.engine.server.tool_request import (
    NO_TOOLS,
    ToolUse,
    parse_tool_use,
    tool_calls_of,
    tool_result_fields,
)
from desktop.engine.worker import (
    FREE_TEXT,
    FormatKind,
    InvalidSettings,
    ReplyFormat,
    SamplingSettings,
    json_schema_format,
)
from desktop.engine.worker.chat_format import (
    NO_TEMPLATE_OPTIONS,
    ChatTemplateError,
    check_template_options,
)
from desktop.engine.worker.settings import MAX_TOP_LOGPROBS


class ReplyKind(enum.Enum):
    CHAT = "chat"
    COMPLETION = "completion"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyRequest:
    """One validated request: either ``messages`` (chat) or ``prompt`` (completion)."""

    kind: ReplyKind
    messages: tuple[Mapping[str, Any], ...] = ()
    prompt: str = ""
    sampling: SamplingSettings
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False
    reply_format: ReplyFormat = FREE_TEXT
    #: The request field that set ``reply_format`` (named in its errors).
    format_param: str | None = None
    #: Log-probabilities asked for: None none, else the number of alternatives per token.
    logprobs: int | None = None
    #: Choices to generate for the prompt (each in its own slot, as slots free up).
    n: int = 1
    #: The model the client named (None: none named).
    model: str | None = None
    #: The functions the model may call, and how (chat only).
    tool_use: ToolUse = NO_TOOLS
    #: Give a reasoning model's thinking apart from its answer (the chat route's choice).
    split_reasoning: bool = False
    #: More names the chat template reads (llama-server's ``chat_template_kwargs``).
    template_options: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: NO_TEMPLATE_OPTIONS
    )


#: Roles a chat message may have → the role the chat template sees ("developer" is OpenAI's
#: newer name for "system"; "tool" messages carry what a called function returned).
CHAT_ROLES: MappingProxyType[str, str] = MappingProxyType(
    {
        "system": "system",
        "developer": "system",
        "user": "user",
        "assistant": "assistant",
        "tool": "tool",
    }
)


def _neutral(value: Any) -> bool:
    return value is None or value is False or value == 0 or value == [] or value == {}


#: Field → (is the value something we can honour?, why not otherwise).
UNSUPPORTED_FIELDS: MappingProxyType[str, tuple[Callable[[Any], bool], str]] = MappingProxyType(
    {
        "best_of": (lambda v: v is None or v == 1, "best_of is not supported."),
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
        "n_probs": (
            _neutral,
            "n_probs (llama.cpp's native probabilities) is not supported; use logprobs.",
        ),
        # vLLM's and llama.cpp's server's prompt options: the reply always starts a new turn
        "continue_final_message": (
            _neutral,
            "Continuing the last assistant message (continue_final_message) is not supported.",
        ),
        "add_generation_prompt": (
            lambda v: v is None or v is True,
            "add_generation_prompt: false is not supported; the reply is a new assistant turn.",
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


@dataclass(frozen=True, slots=True)
class TokenizeBody:
    """llama-server's ``/tokenize`` request, with its defaults."""

    content: str
    add_special: bool = False
    parse_special: bool = True
    with_pieces: bool = False


def parse_tokenize(body: Mapping[str, Any]) -> TokenizeBody:
    content = body.get("content")
    if not isinstance(content, str):
        raise bad_request("'content' must be the text to tokenize.", "invalid_type", "content")
    flags = {
        name: _optional(body, name, bool)
        for name in ("add_special", "parse_special", "with_pieces")
    }
    return TokenizeBody(content, **{k: v for k, v in flags.items() if v is not None})


def parse_detokenize(body: Mapping[str, Any]) -> tuple[int, ...]:
    tokens = body.get("tokens")
    if not isinstance(tokens, list) or not all(
        isinstance(token, int) and not isinstance(token, bool) for token in tokens
    ):
        raise bad_request(
            "'tokens' must be a list of token ids (whole numbers).", "invalid_type", "tokens"
        )
    return tuple(tokens)


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


#: llama-server's ``reasoning_format`` values: every one but "none" gives the thinking apart.
REASONING_FORMATS = ("auto", "deepseek", "deepseek-legacy", "none")


def reasoning_apart(body: Mapping[str, Any]) -> bool:
    """Whether a chat request wants a reasoning model's thinking as ``reasoning_content``
    (llama-server's ``reasoning_format``; the default gives it apart, as llama-server does)."""
    chosen = body.get("reasoning_format")
    if chosen is None:
        return True
    if chosen not in REASONING_FORMATS:
        raise bad_request(
            f"'reasoning_format' must be one of {', '.join(REASONING_FORMATS)}.",
            param="reasoning_format",
        )
    return chosen != "none"


def parse_chat(body: Mapping[str, Any], *, default_max_tokens: int) -> ReplyRequest:
    """A ``/v1/chat/completions`` body (the ``model`` field is checked by the caller)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request(
            "'messages' must be a non-empty list of {role, content} objects.", param="messages"
        )
    parsed = tuple(_message(index, message) for index, message in enumerate(messages))
    tool_use = parse_tool_use(body)
    request = ReplyRequest(
        kind=ReplyKind.CHAT,
        messages=parsed,
        logprobs=_chat_logprobs(body),
        tool_use=tool_use,
        template_options=_template_options(body),
        **_common(body, default_max_tokens),
    )
    if tool_use.active and request.format_param is not None:
        raise bad_request(
            f"Give either 'tools' or '{request.format_param}': a reply that may call a "
            "function cannot also be bound to a format.",
            param=request.format_param,
        )
    if tool_use.active and request.logprobs is not None:
        raise bad_request("'logprobs' cannot be asked for together with 'tools'.", param="logprobs")
    return request


def _template_options(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """``chat_template_kwargs``, as llama-server and vLLM take it: names the chat template
    reads besides the messages (``{"enable_thinking": false}`` turns Qwen 3's thinking off)."""
    options = body.get("chat_template_kwargs")
    if options is None:
        return NO_TEMPLATE_OPTIONS
    if not isinstance(options, dict):
        raise bad_request(
            "'chat_template_kwargs' must be an object of names the chat template reads, "
            'such as {"enable_thinking": false}.',
            param="chat_template_kwargs",
        )
    try:
        check_template_options(options)
    except ChatTemplateError as exc:
        raise bad_request(str(exc), param="chat_template_kwargs") from None
    return MappingProxyType(dict(options))


def parse_completion(body: Mapping[str, Any], *, default_max_tokens: int) -> ReplyRequest:
    """A ``/v1/completions`` body: ``prompt`` is one string (or a list holding one)."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_request("'prompt' must be a string (one prompt per request).", param="prompt")
    if not prompt:
        raise bad_request("'prompt' is empty: there is nothing to continue.", param="prompt")
    if body.get("tools") or body.get("tool_choice") not in (None, "none"):
        raise bad_request(
            "Tools work with chat completions (/v1/chat/completions), not with a plain prompt.",
            "unsupported_parameter",
            "tools",
        )
    return ReplyRequest(
        kind=ReplyKind.COMPLETION,
        prompt=prompt,
        logprobs=_completion_logprobs(body),
        **_common(body, default_max_tokens),
    )


def _message(index: int, message: Any) -> Mapping[str, Any]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise bad_request(f"{where} must be an object with 'role' and 'content'.", param="messages")
    role = message.get("role")
    if not isinstance(role, str) or role not in CHAT_ROLES:
        roles = ", ".join(CHAT_ROLES)
        older = " (function messages are OpenAI's older form of tool messages)"
        raise bad_request(
            f"{where}.role is {role!r}; supported roles are {roles}"
            f"{older if role == 'function' else ''}.",
            param="messages",
        )
    shown: dict[str, Any] = {"role": CHAT_ROLES[role]}
    if role == "assistant" and message.get("tool_calls"):
        shown["content"] = "" if message.get("content") is None else _content(where, message)
        shown["tool_calls"] = tool_calls_of(where, message)
    else:
        shown["content"] = _content(where, message)
    if role == "tool":
        shown.update(tool_result_fields(where, message))
    return MappingProxyType(shown)


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
    reply_format, format_param = _reply_format(body)
    n = _optional(body, "n", int)
    if n is not None and not 1 <= n <= MAX_CHOICES:
        raise bad_request(f"'n' must be between 1 and {MAX_CHOICES}, not {n}.", param="n")
    return {
        "n": n or 1,
        "sampling": _sampling(body, default_max_tokens),
        "stop": _stop(body.get("stop")),
        "stream": stream,
        "include_usage": bool(stream and options and options.get("include_usage") is True),
        "reply_format": reply_format,
        "format_param": format_param,
    }


#: Most choices one request may ask for (each one is a reply of its own).
MAX_CHOICES = 16

#: The fields that can bind a reply to a grammar (one per request).
FORMAT_FIELDS = ("response_format", "json_schema", "grammar")


def _reply_format(body: Mapping[str, Any]) -> tuple[ReplyFormat, str | None]:
    given = [name for name in FORMAT_FIELDS if _asks_format(name, body.get(name))]
    if len(given) > 1:
        raise bad_request(
            f"Give only one of {', '.join(given)}: each sets the reply's whole format.",
            param=given[1],
        )
    if not given:
        return FREE_TEXT, None
    name = given[0]
    value = body[name]
    if name == "grammar":
        if not isinstance(value, str):
            raise bad_request("'grammar' must be a string of GBNF rules.", "invalid_type", name)
        return ReplyFormat(FormatKind.GRAMMAR, value), name
    if name == "json_schema":
        return json_schema_format(_schema(value, name)), name
    return _response_format(value), name


def _asks_format(name: str, value: Any) -> bool:
    """Whether the field asks for something other than free text (null, "" and
    ``{"type": "text"}`` do not)."""
    if value is None or (name == "grammar" and value == ""):
        return False
    return not (name == "response_format" and isinstance(value, dict) and _text_type(value))


def _text_type(value: Mapping[str, Any]) -> bool:
    return value.get("type", "text") == "text"


def _response_format(value: Any) -> ReplyFormat:
    name = "response_format"
    if not isinstance(value, dict):
        raise bad_request("'response_format' must be an object with a 'type'.", param=name)
    kind = value.get("type")
    if kind == "json_object":  # llama.cpp's server also takes a schema here
        if value.get("schema") is None:
            return ReplyFormat(FormatKind.JSON_OBJECT)
        return json_schema_format(_schema(value["schema"], name))
    if kind == "json_schema":
        wrapper = value.get("json_schema")
        if not isinstance(wrapper, dict):
            raise bad_request(
                "'response_format.json_schema' must be an object holding the 'schema'.",
                param=name,
            )
        if wrapper.get("schema") is None:
            return ReplyFormat(FormatKind.JSON_OBJECT)
        return json_schema_format(_schema(wrapper["schema"], name))
    raise bad_request(
        f"response_format type {kind!r} is not one of 'text', 'json_object' and 'json_schema'.",
        param=name,
    )


def _schema(value: Any, param: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("A JSON schema must be a JSON object.", "invalid_json_schema", param)
    return value


def _chat_logprobs(body: Mapping[str, Any]) -> int | None:
    """Chat: ``logprobs: true`` and ``top_logprobs`` alternatives per token."""
    wanted = _optional(body, "logprobs", bool)
    top = _optional(body, "top_logprobs", int)
    if top is not None and not 0 <= top <= MAX_TOP_LOGPROBS:
        raise bad_request(
            f"'top_logprobs' must be between 0 and {MAX_TOP_LOGPROBS}, not {top}.",
            param="top_logprobs",
        )
    if not wanted:
        if top:
            raise bad_request("'top_logprobs' needs 'logprobs': true.", param="top_logprobs")
        return None
    return top or 0


def _completion_logprobs(body: Mapping[str, Any]) -> int | None:
    """Completions: ``logprobs: N`` gives each token's log-probability and N alternatives."""
    value = body.get("logprobs")
    if value is None or value is False:
        return None
    count = _optional(body, "logprobs", int)
    if not 0 <= count <= MAX_TOP_LOGPROBS:
        raise bad_request(
            f"'logprobs' must be between 0 and {MAX_TOP_LOGPROBS} alternatives, not {count}.",
            param="logprobs",
        )
    if not _neutral(body.get("top_logprobs")):
        raise bad_request(
            "/v1/completions takes the number of alternatives in 'logprobs'; "
            "'top_logprobs' is for chat.",
            "unsupported_parameter",
            "top_logprobs",
        )
    return int(count)


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
            logit_bias=_logit_bias(body.get("logit_bias")),
        )
    except InvalidSettings as exc:
        raise bad_request(str(exc)) from None


def _logit_bias(value: Any) -> tuple[tuple[int, float], ...]:
    """OpenAI's ``{"token id": bias}``, or llama.cpp's server's ``[[token id, bias], ...]``."""
    if value is None:
        return ()
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        pairs = [(p[0], p[1]) for p in value]
    else:
        raise _bad_logit_bias()
    biases = []
    for token, bias in pairs:
        if isinstance(token, str) and token.strip().isdigit():
            token = int(token)
        number = isinstance(bias, (int, float)) and not isinstance(bias, bool)
        if isinstance(token, bool) or not isinstance(token, int) or not number:
            raise _bad_logit_bias()
        if token < 0 or not -100 <= bias <= 100:
            raise _bad_logit_bias()
        biases.append((token, float(bias)))
    return tuple(biases)


def _bad_logit_bias() -> ApiError:
    return bad_request(
        "'logit_bias' must map token ids to numbers from -100 to 100, e.g. {\"1234\": -100}.",
        "invalid_type",
        "logit_bias",
    )


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
