"""A reasoning model's thinking given apart: OpenAI's chat as ``reasoning_content`` (as
llama-server and LM Studio give it), Ollama's ``thinking`` and Anthropic's ``thinking`` block
when asked for, read by the official clients. Tiny random-weight models: one with Qwen 3's
real chat template, its reply spelled out by a grammar so that it thinks first; one whose
template opens the thinking in the prompt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import ollama
import openai
import pytest

from desktop.engine.server import ModelServer
from desktop.engine.worker import LoadSettings
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.server_helpers import running_server
from tests.support.thinking_template import OPENING_THINKING_TEMPLATE

THINKING_REPLY = "<think>\nabc def\n</think>\n\nxyz"
ASK: dict[str, Any] = {
    "model": "x",
    "messages": [{"role": "user", "content": "abc"}],
    "max_tokens": 60,
    "temperature": 0,
}
GRAMMAR = {"grammar": 'root ::= "<think>\\nabc def\\n</think>\\n\\nxyz"'}


def _client_of(
    tmp_path_factory: pytest.TempPathFactory, template_name: str
) -> Iterator[openai.OpenAI]:
    """An OpenAI client of a server answering with a tiny model that has this fixture's
    chat template."""
    template = (CHAT_TEMPLATE_FIXTURES / f"{template_name}.jinja").read_text()
    folder: Path = tmp_path_factory.mktemp("thinker")
    model = write_tiny_gguf(folder / "tiny-thinker.gguf", chat_template=template)
    with (
        running_server(model, LoadSettings(ctx_tokens=2048, threads=1)) as running,
        openai.OpenAI(base_url=running.url, api_key="x", max_retries=0) as made,
    ):
        yield made


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    yield from _client_of(tmp_path_factory, "Qwen-Qwen3-0.6B")


def test_thinking_comes_apart_from_the_answer(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(**ASK, extra_body=GRAMMAR)
    message = reply.choices[0].message
    assert message.content == "xyz"
    assert (message.model_extra or {})["reasoning_content"] == "abc def"


def test_streamed_thinking_comes_first_and_apart(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(**ASK, stream=True, extra_body=GRAMMAR))
    parts = []
    for chunk in chunks:
        delta = chunk.choices[0].delta
        thought = (delta.model_extra or {}).get("reasoning_content")
        parts += [("thinking", thought)] * bool(thought) + [("answer", delta.content)] * bool(
            delta.content
        )
    assert "".join(text for kind, text in parts if kind == "thinking") == "abc def"
    assert "".join(text for kind, text in parts if kind == "answer") == "xyz"
    assert [kind for kind, _ in parts] == sorted(kind for kind, _ in parts)[::-1]  # thinking first


def test_reasoning_format_none_keeps_the_thinking_in_the_content(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        **ASK, extra_body={**GRAMMAR, "reasoning_format": "none"}
    )
    assert reply.choices[0].message.content == THINKING_REPLY
    with pytest.raises(openai.BadRequestError, match="reasoning_format"):
        client.chat.completions.create(**ASK, extra_body={"reasoning_format": "hidden"})


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """The tiny model never writes ``</think>``: its whole reply is thinking."""
    folder: Path = tmp_path_factory.mktemp("opened")
    model = write_tiny_gguf(folder / "tiny-opened.gguf", chat_template=OPENING_THINKING_TEMPLATE)
    with running_server(model, LoadSettings(ctx_tokens=2048, threads=1)) as running:
        yield running


def test_every_dialect_gives_thinking_that_the_prompt_opened(opened: ModelServer) -> None:
    with openai.OpenAI(base_url=opened.url, api_key="x", max_retries=0) as client:
        reply = client.chat.completions.create(**ASK)
    thought = (reply.choices[0].message.model_extra or {})["reasoning_content"]
    assert thought and reply.choices[0].message.content == ""

    host = f"http://127.0.0.1:{opened.port}"
    words = [{"role": "user", "content": "abc"}]
    with ollama.Client(host=host) as local:
        assert "thinking" in (local.show("x").capabilities or [])
        options = {"num_predict": 60, "temperature": 0}
        shown = local.chat(model="x", messages=words, think=True, options=options)
        assert shown.message.thinking == thought and shown.message.content == ""
        streamed = local.chat(model="x", messages=words, think=True, options=options, stream=True)
        assert "".join(part.message.thinking or "" for part in streamed) == thought
        inline = local.chat(model="x", messages=words, options=options)  # not asked: text
        assert not inline.message.thinking and inline.message.content.strip() == thought

    with anthropic.Anthropic(base_url=host, api_key="x", max_retries=0) as claude:
        ask: dict[str, Any] = {
            "model": "x",
            "max_tokens": 60,
            "extra_body": {"temperature": 0},  # the client takes none beside thinking
            "messages": words,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        }
        message = claude.messages.create(**ask)
        assert [block.type for block in message.content] == ["thinking", "text"]
        assert message.content[0].thinking == thought  # type: ignore[union-attr]
        with claude.messages.stream(**ask) as stream:
            final = stream.get_final_message()
        assert [block.type for block in final.content] == ["thinking", "text"]
        assert final.content[0].thinking == thought  # type: ignore[union-attr]


def test_the_responses_api_gives_thinking_as_a_reasoning_item(opened: ModelServer) -> None:
    with openai.OpenAI(base_url=opened.url, api_key="x", max_retries=0) as client:
        thought = client.chat.completions.create(**ASK).choices[0].message.model_extra
        ask: dict[str, Any] = {"model": "x", "input": "abc", "max_output_tokens": 60}
        response = client.responses.create(**ask, temperature=0)
        kinds = [item.type for item in response.output]
        assert kinds == ["reasoning", "message"] and response.output_text == ""
        reasoning = response.output[0]
        assert reasoning.type == "reasoning" and reasoning.content
        assert reasoning.content[0].text == (thought or {})["reasoning_content"]
        events = list(client.responses.create(**ask, temperature=0, stream=True))
        deltas = [event.delta for event in events if event.type == "response.reasoning_text.delta"]
        assert "".join(deltas) == reasoning.content[0].text
        added = [
            event.output_index for event in events if event.type == "response.output_item.added"
        ]
        assert added == [0, 1]
        last = events[-1].response  # type: ignore[union-attr]
        assert [item.type for item in last.output] == kinds
        # The thinking of a kept response is not sent back when a conversation goes on.
        going_on = client.responses.create(**ask, previous_response_id=response.id)
        assert going_on.usage and response.usage
        assert going_on.usage.input_tokens < response.usage.input_tokens + 60


@pytest.fixture(scope="module")
def switchable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    """A template that closes the thinking in the prompt unless ``enable_thinking`` is set."""
    yield from _client_of(tmp_path_factory, "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B")


def test_chat_template_kwargs_turn_the_thinking_on_and_off(
    switchable: openai.OpenAI, client: openai.OpenAI
) -> None:
    """As llama-server and vLLM take them: the tiny model never writes ``</think>``, so a
    prompt that opens the thinking makes its whole reply thinking."""
    plain = switchable.chat.completions.create(**ASK).choices[0].message
    assert plain.content and not (plain.model_extra or {}).get("reasoning_content")
    on = {"chat_template_kwargs": {"enable_thinking": True}}
    thinking = switchable.chat.completions.create(**ASK, extra_body=on).choices[0].message
    assert not thinking.content and (thinking.model_extra or {})["reasoning_content"]

    off = {"chat_template_kwargs": {"enable_thinking": False}}  # Qwen 3: an empty, closed block
    usage = [
        client.chat.completions.create(**ASK, extra_body={**GRAMMAR, **extra}).usage
        for extra in ({}, off)
    ]
    assert usage[0] and usage[1] and usage[1].prompt_tokens > usage[0].prompt_tokens

    for wrong, words in (
        ({"chat_template_kwargs": ["enable_thinking"]}, "must be an object"),
        ({"chat_template_kwargs": {"messages": []}}, "cannot set 'messages'"),
    ):
        with pytest.raises(openai.BadRequestError, match=words) as refused:
            client.chat.completions.create(**ASK, extra_body=wrong)
        assert refused.value.body["param"] == "chat_template_kwargs"  # type: ignore[index]


def test_ollamas_think_switches_the_thinking_as_ollama_does(switchable: openai.OpenAI) -> None:
    """``think: true`` opens the thinking of a template that closes it by default (and gives
    it apart); ``think: false`` keeps it closed."""
    host = str(switchable.base_url).removesuffix("/").removesuffix("/v1")
    words = [{"role": "user", "content": "abc"}]
    options = {"num_predict": 20, "temperature": 0}
    with ollama.Client(host=host) as local:
        on = local.chat(model="x", messages=words, think=True, options=options)
        off = local.chat(model="x", messages=words, think=False, options=options)
    assert on.message.thinking and not on.message.content
    assert off.message.content and not off.message.thinking
