"""A reasoning model's thinking given apart as ``reasoning_content`` (as llama-server and
LM Studio give it), read by the official ``openai`` client: a tiny random-weight model with
Qwen 3's real chat template, its reply spelled out by a grammar so that it thinks first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from desktop.engine.worker import LoadSettings
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.server_helpers import running_server

THINKING_REPLY = "<think>\nabc def\n</think>\n\nxyz"
ASK: dict[str, Any] = {
    "model": "x",
    "messages": [{"role": "user", "content": "abc"}],
    "max_tokens": 60,
    "temperature": 0,
}
GRAMMAR = {"grammar": 'root ::= "<think>\\nabc def\\n</think>\\n\\nxyz"'}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    template = (CHAT_TEMPLATE_FIXTURES / "Qwen-Qwen3-0.6B.jinja").read_text()
    folder: Path = tmp_path_factory.mktemp("thinker")
    model = write_tiny_gguf(folder / "tiny-thinker.gguf", chat_template=template)
    with (
        running_server(model, LoadSettings(ctx_tokens=2048, threads=1)) as running,
        openai.OpenAI(base_url=running.url, api_key="x", max_retries=0) as made,
    ):
        yield made


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
