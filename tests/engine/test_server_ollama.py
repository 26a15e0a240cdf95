"""Ollama's own API on ``quantdesk serve``, read by the official ``ollama`` Python client:
real llama.cpp, real HTTP, the tiny random-weight models (one that never ends a reply by
itself, one with Qwen 2.5's real chat template for tool calls)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ollama
import pytest

from desktop.engine.server import ModelServer
from desktop.engine.server.ollama_api import OLLAMA_API_VERSION
from desktop.engine.worker import LoadSettings
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support import worker_helpers
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf
from tests.support.server_helpers import post_raw, running_server
from tests.support.tool_requests import WEATHER_TOOL

endless_model = worker_helpers.endless_model

LOAD = LoadSettings(ctx_tokens=2048, threads=1, parallel=2)
MESSAGES = [{"role": "user", "content": "abc def"}]
GREEDY = {"temperature": 0, "repeat_penalty": 1.0}


@pytest.fixture(scope="module")
def server(endless_model: Path) -> Iterator[ModelServer]:
    with running_server(endless_model, LOAD) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: ModelServer) -> Iterator[ollama.Client]:
    with ollama.Client(host=f"http://127.0.0.1:{server.port}") as connected:
        yield connected


def test_models_are_listed_shown_and_running(server: ModelServer, client: ollama.Client) -> None:
    listed = client.list()
    (model,) = listed.models
    assert model.model == "tiny-chat" and model.size and model.size > 0
    assert model.details and model.details.format == "gguf"
    assert model.details.family == "llama" and model.details.quantization_level == "F16"
    shown = client.show("tiny-chat")
    assert shown.modelinfo and shown.modelinfo["llama.context_length"] == 4096
    assert shown.capabilities and "completion" in shown.capabilities
    assert "tools" not in shown.capabilities  # no chat template of its own
    (running,) = client.ps().models
    assert running.model == "tiny-chat"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", "/api/version")
    assert json.loads(connection.getresponse().read())["version"] == OLLAMA_API_VERSION
    connection.request("GET", "/")  # clients check that the server answers here
    assert b"running" in connection.getresponse().read()
    connection.close()


def test_chat_streamed_and_whole_give_the_same_text_and_counts(
    server: ModelServer, client: ollama.Client
) -> None:
    options = {**GREEDY, "num_predict": 12, "seed": 3}
    whole = client.chat(model="anything", messages=MESSAGES, options=options)
    assert whole.done and whole.done_reason == "length" and whole.eval_count == 12
    assert whole.message.role == "assistant" and whole.message.content
    assert whole.prompt_eval_count and whole.total_duration and whole.eval_duration
    parts = list(client.chat(model="x", messages=MESSAGES, options=options, stream=True))
    assert [part.done for part in parts] == [False] * (len(parts) - 1) + [True]
    assert "".join(part.message.content or "" for part in parts) == whole.message.content


def test_generate_applies_the_template_unless_raw_and_an_empty_prompt_loads(
    client: ollama.Client,
) -> None:
    options = {**GREEDY, "num_predict": 6}
    templated = client.generate(model="x", prompt="abc def", options=options)
    raw = client.generate(model="x", prompt="abc def", raw=True, options=options)
    assert templated.done and raw.done and templated.eval_count == raw.eval_count == 6
    assert (templated.prompt_eval_count or 0) > (raw.prompt_eval_count or 0)  # the template
    loaded = client.generate(model="x", prompt="")
    assert loaded.done and loaded.done_reason == "load"


def test_format_json_gives_json(server: ModelServer, client: ollama.Client) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    reply = client.chat(
        model="x", messages=MESSAGES, format=schema, options={**GREEDY, "num_predict": 40}
    )
    assert isinstance(json.loads(reply.message.content or "")["ok"], bool)


def test_embed_and_the_older_embeddings_route(server: ModelServer, client: ollama.Client) -> None:
    embedded = client.embed(model="x", input=["abc def", "ghi"])
    assert len(embedded.embeddings) == 2
    assert all(len(vector) == TinyModelShape().n_embd for vector in embedded.embeddings)
    older = client.embeddings(model="x", prompt="abc def")
    assert older.embedding == pytest.approx(embedded.embeddings[0], abs=1e-6)


def test_errors_come_in_ollama_s_shape(server: ModelServer, client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as refused:
        client.chat(model="x", messages=MESSAGES, options={"temperature": -1})
    assert refused.value.status_code == 400 and "Temperature" in refused.value.error
    status, data = post_raw(server.port, "/api/chat", {"messages": "hi"}, timeout_s=30)
    assert status == 400 and set(json.loads(data)) == {"error"}


def test_tool_calls_come_back_with_arguments_as_objects(tmp_path: Path) -> None:
    template = (CHAT_TEMPLATE_FIXTURES / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text()
    model = write_tiny_gguf(tmp_path / "tiny-tools.gguf", chat_template=template)
    body: dict[str, Any] = {
        "model": "x",
        "messages": [{"role": "user", "content": "Weather in Oslo?"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",  # not Ollama's; the OpenAI field binds the random model
        "options": {**GREEDY, "num_predict": 300},
        "stream": False,
    }
    with (
        running_server(model, LoadSettings(ctx_tokens=2048, threads=1)) as running,
        ollama.Client(host=f"http://127.0.0.1:{running.port}") as tools_client,
    ):
        assert "tools" in (tools_client.show("x").capabilities or [])
        status, data = post_raw(running.port, "/api/chat", body, timeout_s=120)
        assert status == 200, data
        (call,) = json.loads(data)["message"]["tool_calls"]
        assert call["function"]["name"] == "get_weather"
        assert isinstance(call["function"]["arguments"], dict)
        history = [
            *body["messages"],
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": "Sunny"},
        ]
        answer = tools_client.chat(
            model="x", messages=history, tools=[WEATHER_TOOL], options={"num_predict": 3}
        )
        assert answer.done
