"""Anthropic's Messages API on ``quantdesk serve``, read by the official ``anthropic`` Python
client: real llama.cpp, real HTTP, the tiny random-weight models (one that never ends a reply
by itself; one with Qwen 2.5's real chat template for tool calls)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from desktop.engine.server import ModelServer
from desktop.engine.worker import LoadSettings
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support import worker_helpers
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.server_helpers import post_raw, running_server
from tests.support.tool_requests import WEATHER_TOOL

endless_model = worker_helpers.endless_model

LOAD = LoadSettings(ctx_tokens=2048, threads=1, parallel=2)
MESSAGES: list[Any] = [{"role": "user", "content": "abc def"}]
#: Anthropic's shape of the tests' function.
WEATHER = {
    "name": WEATHER_TOOL["function"]["name"],
    "description": WEATHER_TOOL["function"]["description"],
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}


@pytest.fixture(scope="module")
def server(endless_model: Path) -> Iterator[ModelServer]:
    with running_server(endless_model, LOAD) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: ModelServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=f"http://127.0.0.1:{server.port}", api_key="x") as made:
        yield made


def test_a_message_whole_and_streamed(client: anthropic.Anthropic) -> None:
    ask: dict[str, Any] = {
        "model": "claude-sonnet-4-5",  # any name means the loaded model
        "max_tokens": 10,
        "system": "Be brief.",
        "messages": MESSAGES,
        "extra_body": {"temperature": 0},  # this client version sends no sampling fields
    }
    message = client.messages.create(**ask)
    assert message.role == "assistant" and message.model == "tiny-chat"
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 10
    (block,) = message.content
    assert block.type == "text" and block.text
    with client.messages.stream(**ask) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].type == "text" and streamed.content[0].text == block.text
    assert streamed.stop_reason == "max_tokens" and streamed.usage.output_tokens == 10


def test_tokens_are_counted_with_the_system_prompt(client: anthropic.Anthropic) -> None:
    alone = client.messages.count_tokens(model="x", messages=MESSAGES)
    with_system = client.messages.count_tokens(model="x", messages=MESSAGES, system="Be brief.")
    assert 0 < alone.input_tokens < with_system.input_tokens


def test_errors_come_in_anthropic_s_shape(server: ModelServer, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(
            model="x",
            max_tokens=5,
            messages=[{"role": "user", "content": [{"type": "image", "source": {}}]}],
        )
    assert "'image' block" in str(refused.value)
    status, data = post_raw(server.port, "/v1/messages", {"messages": []}, timeout_s=30)
    error = json.loads(data)
    assert status == 400 and error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"


def test_tool_use_and_its_result(tmp_path: Path) -> None:
    template = (CHAT_TEMPLATE_FIXTURES / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text()
    model = write_tiny_gguf(tmp_path / "tiny-tools.gguf", chat_template=template)
    with (
        running_server(model, LoadSettings(ctx_tokens=2048, threads=1)) as running,
        anthropic.Anthropic(base_url=f"http://127.0.0.1:{running.port}", api_key="x") as tools,
    ):
        ask: dict[str, Any] = {
            "model": "x",
            "max_tokens": 300,
            "messages": [{"role": "user", "content": "Weather in Oslo?"}],
            "tools": [WEATHER],
            "tool_choice": {"type": "tool", "name": "get_weather"},
            "extra_body": {"temperature": 0},  # this client version sends no sampling fields
        }
        message = tools.messages.create(**ask)
        assert message.stop_reason == "tool_use"
        (call,) = [block for block in message.content if block.type == "tool_use"]
        assert call.name == "get_weather" and set(call.input) == {"city", "unit"}  # type: ignore[arg-type]
        with tools.messages.stream(**ask) as stream:
            streamed = stream.get_final_message()
        (streamed_call,) = [block for block in streamed.content if block.type == "tool_use"]
        assert streamed_call.input == call.input and streamed.stop_reason == "tool_use"

        answer = tools.messages.create(
            model="x",
            max_tokens=3,
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice={"type": "none"},
            messages=[
                ask["messages"][0],
                {"role": "assistant", "content": message.content},  # type: ignore[typeddict-item]
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": call.id, "content": "Sunny"}
                    ],
                },
            ],
            extra_body={"temperature": 0},  # a random draw may end the reply within 3 tokens
        )
        assert answer.stop_reason == "max_tokens" and answer.usage.input_tokens > 50
