"""OpenAI's Responses API on ``quantdesk serve``, read by the official ``openai`` client
(``client.responses``): real llama.cpp, real HTTP, the tiny random-weight models (one that
never ends a reply by itself; one with Qwen 2.5's real chat template for function calls)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from desktop.engine.worker import LoadSettings
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support import worker_helpers
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.server_helpers import running_server
from tests.support.tool_requests import WEATHER_TOOL

endless_model = worker_helpers.endless_model

LOAD = LoadSettings(ctx_tokens=2048, threads=1, parallel=2)
#: The Responses API's shape of the tests' function.
WEATHER = {"type": "function", **WEATHER_TOOL["function"]}


@pytest.fixture(scope="module")
def client(endless_model: Path) -> Iterator[openai.OpenAI]:
    with (
        running_server(endless_model, LOAD) as running,
        openai.OpenAI(base_url=running.url, api_key="x", max_retries=0) as made,
    ):
        yield made


def test_a_response_whole_and_streamed(client: openai.OpenAI) -> None:
    ask: dict[str, Any] = {
        "model": "gpt-5",  # any name means the loaded model
        "instructions": "Be brief.",
        "input": "abc def",
        "max_output_tokens": 10,
        "temperature": 0,
    }
    response = client.responses.create(**ask)
    assert response.status == "incomplete" and response.model == "tiny-chat"
    assert response.incomplete_details and response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text and response.usage and response.usage.output_tokens == 10
    events = list(client.responses.create(**ask, stream=True))
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == response.output_text
    last = events[-1]  # the budget ran out: "incomplete", as OpenAI ends such a stream
    assert last.type == "response.incomplete" and last.response.output_text == response.output_text


def test_input_items_and_a_json_format(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    response = client.responses.create(
        model="x",
        input=[
            {"role": "developer", "content": "Answer in JSON."},
            {"role": "user", "content": [{"type": "input_text", "text": "abc"}]},
        ],
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema}},
        max_output_tokens=40,
        temperature=0,
    )
    assert isinstance(json.loads(response.output_text)["ok"], bool)


def test_going_on_from_a_kept_response(client: openai.OpenAI) -> None:
    ask: dict[str, Any] = {"model": "x", "max_output_tokens": 5, "temperature": 0}
    first = client.responses.create(**ask, instructions="Be brief.", input="abc def")
    assert first.store is True and client.responses.retrieve(first.id).output_text == (
        first.output_text
    )
    going_on = client.responses.create(**ask, previous_response_id=first.id, input="ghi")
    assert going_on.previous_response_id == first.id
    # The same conversation sent whole, without the first request's instructions (they are
    # not carried over, as OpenAI's API does): the same prompt, token for token.
    whole = client.responses.create(
        **ask,
        input=[
            {"role": "user", "content": "abc def"},
            {"role": "assistant", "content": first.output_text},
            {"role": "user", "content": "ghi"},
        ],
    )
    assert going_on.usage and whole.usage and first.usage
    assert going_on.usage.input_tokens == whole.usage.input_tokens > first.usage.input_tokens
    (own,) = client.responses.input_items.list(going_on.id).data  # its own input only
    assert own.id.startswith("msg_") and own.content[0].text == "ghi"  # type: ignore[union-attr]
    newest_first = client.responses.input_items.list(whole.id, limit=2)
    assert [item.content[0].text for item in newest_first.data] == ["ghi", first.output_text]  # type: ignore[union-attr]
    assert newest_first.has_more
    in_order = client.responses.input_items.list(whole.id, order="asc")
    assert [item.role for item in in_order.data] == ["user", "assistant", "user"]  # type: ignore[union-attr]
    assert len(list(client.responses.input_items.list(whole.id, limit=1))) == 3  # by 'after'
    streamed = list(
        client.responses.create(**ask, previous_response_id=going_on.id, input="jkl", stream=True)
    )
    last = streamed[-1].response  # type: ignore[union-attr]
    assert last.previous_response_id == going_on.id and client.responses.retrieve(last.id)

    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.BadRequestError, match=f"'{first.id}' not found") as refused:
        client.responses.create(**ask, previous_response_id=going_on.id, input="mno")
    assert refused.value.code == "previous_response_not_found"
    unkept = client.responses.create(**ask, input="abc", store=False)
    assert unkept.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unkept.id)


def test_unsupported_parts_are_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="'web_search' tool"):
        client.responses.create(model="x", input="abc", tools=[{"type": "web_search"}])


def test_function_calls_and_their_output(tmp_path: Path) -> None:
    template = (CHAT_TEMPLATE_FIXTURES / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text()
    model = write_tiny_gguf(tmp_path / "tiny-tools.gguf", chat_template=template)
    with (
        running_server(model, LoadSettings(ctx_tokens=2048, threads=1)) as running,
        openai.OpenAI(base_url=running.url, api_key="x", max_retries=0) as tools,
    ):
        ask: dict[str, Any] = {
            "model": "x",
            "input": "Weather in Oslo?",
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "max_output_tokens": 300,
            "temperature": 0,
        }
        response = tools.responses.create(**ask)
        (call,) = [item for item in response.output if item.type == "function_call"]
        assert call.name == "get_weather" and set(json.loads(call.arguments)) == {"city", "unit"}
        with tools.responses.stream(**ask) as stream:
            streamed = stream.get_final_response()
        (streamed_call,) = [item for item in streamed.output if item.type == "function_call"]
        assert streamed_call.arguments == call.arguments

        answer = tools.responses.create(
            model="x",
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice="none",
            max_output_tokens=3,
            input=[
                {"role": "user", "content": "Weather in Oslo?"},
                {
                    "type": "function_call",
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                },
                {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"},
            ],
        )
        assert answer.usage and answer.usage.input_tokens > 50
        # An agent's usual turn: only the call's output, going on from the response that
        # made the call; the kept call is rendered as the one sent back above.
        going_on = tools.responses.create(
            model="x",
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice="none",
            max_output_tokens=3,
            previous_response_id=response.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"}],
        )
        assert going_on.usage and going_on.usage.input_tokens == answer.usage.input_tokens
