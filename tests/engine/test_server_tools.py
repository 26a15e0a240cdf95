"""Tool calling through ``quantdesk serve``: the tiny random-weight model with Qwen 2.5's real
chat template, real llama.cpp, real HTTP. Random weights call no tool by themselves, so the
calls here are the ones ``tool_choice`` requires (llama.cpp's grammar sampler writes them in
Hermes' syntax); the official ``openai`` client reads them as it reads OpenAI's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from desktop.engine.server import ModelServer
from desktop.engine.worker import LoadSettings
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.server_helpers import post_raw, running_server
from tests.support.tool_requests import CALL_AND_RESULT, WEATHER_TOOL

LOAD = LoadSettings(ctx_tokens=2048, threads=1)
MESSAGES = [{"role": "user", "content": "What is the weather in Oslo?"}]
CLOCK = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}
ASK = {"messages": MESSAGES, "tools": [WEATHER_TOOL, CLOCK], "max_tokens": 300, "temperature": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    template = (CHAT_TEMPLATE_FIXTURES / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text()
    model = write_tiny_gguf(
        tmp_path_factory.mktemp("tools") / "tiny-tools.gguf", chat_template=template
    )
    with running_server(model, LOAD) as running:
        yield running


def post(server: ModelServer, body: dict[str, Any]) -> tuple[int, Any]:
    status, data = post_raw(server.port, "/v1/chat/completions", body, timeout_s=120)
    if body.get("stream") and status == 200:
        events = [line.removeprefix("data: ") for line in data.decode().split("\n\n") if line]
        return 200, [e if e == "[DONE]" else json.loads(e) for e in events]
    return status, json.loads(data)


def test_a_required_call_comes_back_as_tool_calls(server: ModelServer) -> None:
    status, reply = post(server, {**ASK, "tool_choice": "required"})
    assert status == 200, reply
    (choice,) = reply["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None
    (call,) = message["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    arguments = json.loads(call["function"]["arguments"])
    if call["function"]["name"] == "get_weather":
        assert isinstance(arguments["city"], str)  # random bytes: maxLength keeps it short
        assert arguments["unit"] in ("celsius", "fahrenheit")
    else:
        assert call["function"]["name"] == "now" and isinstance(arguments, dict)


def test_a_named_function_is_the_one_called_and_streams_as_one_delta(
    server: ModelServer,
) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    status, whole = post(server, {**ASK, "tool_choice": named})
    assert status == 200, whole
    (call,) = whole["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"

    status, events = post(server, {**ASK, "tool_choice": named, "stream": True})
    assert status == 200 and events[-1] == "[DONE]"
    deltas = [event["choices"][0] for event in events[:-1]]
    assert deltas[0]["delta"] == {"role": "assistant", "content": ""}
    assert not any(d["delta"].get("content") for d in deltas[1:])  # nothing of the call as text
    (with_calls,) = [d for d in deltas if "tool_calls" in d["delta"]]
    (streamed,) = with_calls["delta"]["tool_calls"]
    assert streamed["index"] == 0 and streamed["function"] == call["function"]  # greedy twice
    assert deltas[-1]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("template", "call_start"),
    [
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", "{"),
        ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "["),
    ],
)
def test_other_families_calls_are_forced_and_read_in_their_own_syntax(
    tmp_path: Path, template: str, call_start: str
) -> None:
    """Llama 3.1 writes a call as a JSON reply, Mistral as a JSON list of calls."""
    model = write_tiny_gguf(
        tmp_path / "tiny-tools.gguf",
        chat_template=(CHAT_TEMPLATE_FIXTURES / template).read_text(),
    )
    # Their templates spell out special tokens that the tiny model's vocabulary lacks.
    with running_server(model, LoadSettings(ctx_tokens=4096, threads=1)) as running:
        status, reply = post(running, {**ASK, "tool_choice": "required"})
        assert status == 200, reply
        assert reply["choices"][0]["finish_reason"] == "tool_calls"
        (call,) = reply["choices"][0]["message"]["tool_calls"]
        assert call["function"]["name"] in ("get_weather", "now")
        assert isinstance(json.loads(call["function"]["arguments"]), dict)
        status, plain = post(running, {**ASK, "tool_choice": "none", "max_tokens": 40})
        assert status == 200 and not plain["choices"][0]["message"].get("tool_calls")


def test_a_conversation_with_calls_and_their_results_is_answered(server: ModelServer) -> None:
    history = [*MESSAGES, *CALL_AND_RESULT]
    status, reply = post(
        server,
        {"messages": history, "tools": [WEATHER_TOOL], "max_tokens": 4, "tool_choice": "none"},
    )
    assert status == 200, reply
    assert reply["usage"]["prompt_tokens"] > 50  # the history, rendered by the template


def test_the_openai_client_reads_the_calls(server: ModelServer) -> None:
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused")
    ask: dict[str, Any] = {
        "model": "tiny-tools",
        "messages": MESSAGES,
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
        "max_tokens": 300,
        "temperature": 0,
    }
    completion = client.chat.completions.create(**ask)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert set(json.loads(call.function.arguments)) == {"city", "unit"}  # type: ignore[union-attr]

    stream = client.chat.completions.create(**ask, stream=True)
    pieces = [c.choices[0].delta.tool_calls for c in stream if c.choices[0].delta.tool_calls]
    (streamed,) = pieces[0] or []
    assert streamed.function and streamed.function.name == "get_weather"
    assert streamed.function.arguments == call.function.arguments  # type: ignore[union-attr]
