"""Ollama's request bodies (``/api/chat``, ``/api/generate``) → the same validated
:class:`ReplyRequest` as OpenAI's routes make.

Each body is rewritten into the OpenAI request it means and checked by the same parser, so the
two front ends cannot drift apart in what they accept:

* ``options`` carries the sampling: ``temperature``, ``top_p``, ``top_k``, ``min_p``,
  ``repeat_penalty``, ``seed``, ``stop`` and ``num_predict`` (-1 or -2: until the context is
  full). The options that choose how a model is loaded (``num_ctx``, ``num_gpu``,
  ``num_thread`` …) are ignored: the model keeps the settings it was served with (Ollama
  would load it again).
* ``format`` is ``"json"`` (any JSON object) or a JSON schema.
* ``tools`` are OpenAI's; a past call's ``arguments`` are an object, not JSON text. OpenAI's
  ``tool_choice``, which Ollama lacks, is taken too.
* ``/api/generate`` without ``raw`` is a one-message chat (with the optional ``system``), as
  Ollama renders it through the model's template; with ``raw`` the prompt is continued as is.
* ``stream`` is on unless the body says ``false``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from desktop.engine.server.api_errors import bad_request
from desktop.engine.server.parsing import ReplyRequest, parse_chat, parse_completion

#: Ollama's option → the OpenAI field it sets.
SAMPLING_OPTIONS: Mapping[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repeat_penalty": "repeat_penalty",
    "seed": "seed",
    "stop": "stop",
    "num_predict": "max_tokens",
}


def parse_ollama_chat(body: Mapping[str, Any], *, default_max_tokens: int) -> ReplyRequest:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("'messages' must be a list of messages.", param="messages")
    openai = {
        **_common(body),
        "messages": [_message(index, message) for index, message in enumerate(messages)],
    }
    for field in ("tools", "tool_choice"):  # tool_choice is OpenAI's, taken as an extension
        if body.get(field) is not None:
            openai[field] = body[field]
    return parse_chat(openai, default_max_tokens=default_max_tokens)


def parse_ollama_generate(body: Mapping[str, Any], *, default_max_tokens: int) -> ReplyRequest:
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str):
        raise bad_request("'prompt' must be a string.", param="prompt")
    if body.get("suffix"):
        raise bad_request("'suffix' (fill-in-the-middle) is not supported.", param="suffix")
    if body.get("raw"):
        return parse_completion(
            {**_common(body), "prompt": prompt}, default_max_tokens=default_max_tokens
        )
    messages = [{"role": "user", "content": prompt}]
    system = body.get("system")
    if system:
        if not isinstance(system, str):
            raise bad_request("'system' must be a string.", param="system")
        messages.insert(0, {"role": "system", "content": system})
    return parse_chat(
        {**_common(body), "messages": messages}, default_max_tokens=default_max_tokens
    )


def wants_stream(body: Mapping[str, Any]) -> bool:
    stream = body.get("stream", True)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false.", param="stream")
    return stream


def _common(body: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI fields every Ollama reply body sets: sampling and format."""
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise bad_request("'options' must be an object.", param="options")
    openai: dict[str, Any] = {"stream": False}  # each front end streams in its own shape
    for option, field in SAMPLING_OPTIONS.items():
        if options.get(option) is not None:
            openai[field] = options[option]
    if isinstance(openai.get("max_tokens"), int) and openai["max_tokens"] < 0:
        del openai["max_tokens"]  # -1: no limit; -2: fill the context
    if body.get("images"):
        raise bad_request("Images are not supported: this server runs text models.", param="images")
    form = body.get("format")
    if form == "json":
        openai["response_format"] = {"type": "json_object"}
    elif isinstance(form, dict):
        openai["response_format"] = {"type": "json_schema", "json_schema": {"schema": form}}
    elif form not in (None, ""):
        raise bad_request("'format' must be \"json\" or a JSON schema.", param="format")
    return openai


def _message(index: int, message: Any) -> Any:
    """One message as OpenAI writes it (a past call's arguments become JSON text)."""
    if not isinstance(message, dict):
        return message  # the chat parser says what is wrong with it
    if message.get("images"):
        raise bad_request(
            f"messages[{index}] has images; this server runs text models.", param="messages"
        )
    shown = {key: value for key, value in message.items() if key not in ("images", "thinking")}
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        shown["tool_calls"] = [_call(call) for call in calls]
    return shown


def _call(call: Any) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or isinstance(function.get("arguments"), str):
        return call
    arguments = json.dumps(function.get("arguments") or {})
    return {"type": "function", "function": {**function, "arguments": arguments}}
