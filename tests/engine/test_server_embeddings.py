"""``/v1/embeddings`` through ``quantdesk serve``: real llama.cpp, real HTTP, the tiny
random-weight model; the official ``openai`` client (which asks for base64) reads the same
vectors as a plain request for numbers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest

from desktop.engine.server import ModelServer
from desktop.engine.worker import LoadSettings
from tests.support import worker_helpers
from tests.support.gguf_factory import TinyModelShape, write_tiny_bert_gguf
from tests.support.server_helpers import post_raw, running_server

endless_model = worker_helpers.endless_model

LOAD = LoadSettings(ctx_tokens=1024, threads=1, parallel=2)
TEXTS = ["abc def ghi", "jkl mno", "abc def ghi"]


@pytest.fixture(scope="module")
def server(endless_model: Path) -> Iterator[ModelServer]:
    with running_server(endless_model, LOAD) as running:
        yield running


def post(server: ModelServer, body: dict[str, Any]) -> tuple[int, Any]:
    status, data = post_raw(server.port, "/v1/embeddings", body, timeout_s=120)
    return status, json.loads(data)


def test_each_text_gets_a_unit_vector_of_the_model_s_size(server: ModelServer) -> None:
    status, answer = post(server, {"model": "anything", "input": TEXTS})
    assert status == 200, answer
    assert answer["object"] == "list" and answer["model"] == "tiny-chat"
    vectors = [np.array(item["embedding"]) for item in answer["data"]]
    assert [item["index"] for item in answer["data"]] == [0, 1, 2]
    assert all(v.shape == (TinyModelShape().n_embd,) for v in vectors)
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors)
    assert np.array_equal(vectors[0], vectors[2])  # the same text, the same vector
    assert not np.allclose(vectors[0], vectors[1])
    assert answer["usage"]["prompt_tokens"] == answer["usage"]["total_tokens"] > 6

    status, one = post(server, {"input": TEXTS[1]})  # a single string
    assert status == 200 and np.allclose(one["data"][0]["embedding"], vectors[1])


def test_the_openai_client_reads_base64_as_the_same_numbers(server: ModelServer) -> None:
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused")
    answer = client.embeddings.create(model="tiny-chat", input=TEXTS[:2])
    status, plain = post(server, {"input": TEXTS[:2]})
    assert status == 200
    for got, expected in zip(answer.data, plain["data"], strict=True):
        assert np.allclose(got.embedding, expected["embedding"], atol=1e-7)
    assert answer.usage.prompt_tokens == plain["usage"]["prompt_tokens"]


def test_embedding_while_a_reply_streams(server: ModelServer) -> None:
    """Answered between the reply's decode steps; neither waits for the other to end."""
    replied: list[int] = []

    def reply() -> None:
        body = {"messages": [{"role": "user", "content": "abc"}], "max_tokens": 200}
        replied.append(post_raw(server.port, "/v1/chat/completions", body, timeout_s=120)[0])

    worker = threading.Thread(target=reply)
    worker.start()
    status, answer = post(server, {"input": TEXTS[0]})
    worker.join()
    assert status == 200 and len(answer["data"]) == 1 and replied == [200]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({}, "input", "'input' must be a string"),
        ({"input": [[1, 2, 3]]}, "input", "OpenAI's tokenizer's ids"),
        ({"input": ["abc", ""]}, "input", "input[1] is empty"),
        ({"input": "abc", "encoding_format": "int8"}, "encoding_format", "float or base64"),
        ({"input": "abc", "dimensions": 64}, "dimensions", "cannot be cut short"),
        ({"input": "abc " * 3000}, "input", "embeds at most 4096 tokens"),
    ],
)
def test_bad_embedding_requests_get_a_400_that_says_why(
    server: ModelServer, body: dict[str, Any], param: str, words: str
) -> None:
    status, answer = post(server, body)
    assert status == 400, answer
    assert answer["error"]["param"] == param and words in answer["error"]["message"]


def test_a_model_made_for_embeddings_pools_as_trained_and_writes_no_replies(
    tmp_path: Path,
) -> None:
    """A BERT-style encoder (its GGUF names mean pooling) embeds through llama.cpp's encoder
    path; a chat reply asked of it is refused in words, not answered with nothing."""
    model = write_tiny_bert_gguf(tmp_path / "tiny-bert.gguf")
    with running_server(model, LoadSettings(ctx_tokens=512, threads=1)) as running:
        status, answer = post(running, {"input": ["the cat sat.", "the dog", "the cat sat."]})
        assert status == 200, answer
        vectors = [np.array(item["embedding"]) for item in answer["data"]]
        assert all(v.shape == (64,) and abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors)
        assert np.allclose(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
        body = {"messages": [{"role": "user", "content": "the cat"}], "max_tokens": 4}
        status, data = post_raw(running.port, "/v1/chat/completions", body, timeout_s=60)
        error = json.loads(data)["error"]
        assert status == 400 and error["code"] == "model_cannot_generate"
        assert "is an embedding model" in error["message"]
        status, data = post_raw(running.port, "/api/show", {"model": "x"}, timeout_s=60)
        assert json.loads(data)["capabilities"] == ["embedding"]
