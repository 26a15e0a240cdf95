"""``quantdesk serve``'s grammar-bound replies, log-probabilities, cached-token usage and
system fingerprint, in OpenAI's and llama.cpp's server's shapes, over real HTTP with real
llama.cpp running the tiny random-weight model; and the official ``openai`` client reading them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from desktop.engine.server import ModelServer
from desktop.engine.worker import LoadSettings
from tests.support import worker_helpers
from tests.support.server_helpers import post_raw, running_server

endless_model = worker_helpers.endless_model

LOAD = LoadSettings(ctx_tokens=2048, threads=1, parallel=2)
MESSAGES = [{"role": "user", "content": "abc def"}]
#: Plain greedy decoding (the server's default repeat penalty would change the choice).
GREEDY = {"temperature": 0, "repeat_penalty": 1.0}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"enum": ["yes", "no"]}, "count": {"type": "integer"}},
    "required": ["answer", "count"],
}


@pytest.fixture(scope="module")
def server(endless_model: Path) -> Iterator[ModelServer]:
    with running_server(endless_model, LOAD) as running:
        yield running


def post(server: ModelServer, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    status, data = post_raw(server.port, path, body, timeout_s=120)
    if body.get("stream") and status == 200:
        events = [line.removeprefix("data: ") for line in data.decode().split("\n\n") if line]
        return 200, [e if e == "[DONE]" else json.loads(e) for e in events]
    return status, json.loads(data)


def chat(server: ModelServer, **fields: Any) -> dict[str, Any]:
    status, reply = post(server, "/v1/chat/completions", {"messages": MESSAGES, **fields})
    assert status == 200, reply
    return reply


# --- grammar-bound replies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"grammar": 'root ::= "yes" | "no"'},
        {"json_schema": {"enum": ["yes", "no"]}},
        {"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}},
        {"response_format": {"type": "json_object", "schema": SCHEMA}},  # llama.cpp's server
    ],
)
def test_replies_follow_the_grammar_or_schema(server: ModelServer, fields: dict[str, Any]) -> None:
    for seed in (1, 2):
        reply = chat(server, temperature=1.0, seed=seed, max_tokens=200, **fields)
        content = reply["choices"][0]["message"]["content"]
        assert reply["choices"][0]["finish_reason"] == "stop"
        if "grammar" in fields:
            assert content in ("yes", "no")
        elif "json_schema" in fields:
            assert json.loads(content) in ("yes", "no")
        else:
            value = json.loads(content)
            assert value["answer"] in ("yes", "no") and isinstance(value["count"], int)


def test_json_mode_starts_an_object_and_streams_the_same(server: ModelServer) -> None:
    body = {"temperature": 0, "max_tokens": 24, "response_format": {"type": "json_object"}}
    whole = chat(server, **body)["choices"][0]["message"]["content"]
    assert whole.startswith("{")
    status, events = post(
        server, "/v1/chat/completions", {"messages": MESSAGES, **body, "stream": True}
    )
    streamed = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert status == 200 and streamed == whole


def test_completions_take_a_grammar_too(server: ModelServer) -> None:
    status, reply = post(
        server, "/v1/completions", {"prompt": "abc", "grammar": 'root ::= "a"{5}', "seed": 3}
    )
    assert status == 200 and reply["choices"][0]["text"] == "aaaaa"


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"grammar": "root ::= this is (not valid GBNF"}, "grammar", "not valid GBNF"),
        ({"grammar": 7}, "grammar", "must be a string"),
        ({"response_format": {"type": "sound"}}, "response_format", "'sound' is not one of"),
        ({"response_format": "json"}, "response_format", "must be an object"),
        (
            {"response_format": {"type": "json_object", "schema": 123}},
            "response_format",
            "must be a JSON object",
        ),
        (
            {"response_format": {"type": "json_object", "schema": {"type": 123}}},
            "response_format",
            "cannot be turned into a grammar",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "x"}}}},
            "response_format",
            "cannot be turned into a grammar",
        ),
        ({"json_schema": {"type": "hiccup"}}, "json_schema", "cannot be turned into a grammar"),
        ({"json_schema": {}, "grammar": 'root ::= "a"'}, "grammar", "only one of"),
        ({"logprobs": False, "top_logprobs": 3}, "top_logprobs", "needs 'logprobs': true"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs", "between 0 and 20"),
        ({"logprobs": "yes"}, "logprobs", "true or false"),
        ({"n": 17}, "n", "between 1 and 16"),
    ],
)
def test_unusable_formats_get_a_400_naming_the_field(
    server: ModelServer, fields: dict[str, Any], param: str, words: str
) -> None:
    status, reply = post(server, "/v1/chat/completions", {"messages": MESSAGES, **fields})
    assert status == 400
    error = reply["error"]
    assert words in error["message"] and error["param"] == param
    assert error["type"] == "invalid_request_error" and "\n" not in error["message"]


# --- log-probabilities ----------------------------------------------------------------------------


def test_chat_logprobs_in_openai_s_shape_whole_and_streamed(server: ModelServer) -> None:
    body = {**GREEDY, "max_tokens": 10, "logprobs": True, "top_logprobs": 3}
    reply = chat(server, **body)
    choice = reply["choices"][0]
    content = choice["logprobs"]["content"]
    assert len(content) == reply["usage"]["completion_tokens"] == 10
    for token in content:
        assert set(token) == {"token", "logprob", "bytes", "top_logprobs"}
        assert token["logprob"] <= 0 and bytes(token["bytes"]).decode() == token["token"]
        assert len(token["top_logprobs"]) == 3
        assert token["top_logprobs"][0]["token"] == token["token"]  # greedy: the most likely
        assert token["top_logprobs"][0]["logprob"] == token["logprob"]
    assert "".join(token["token"] for token in content) == choice["message"]["content"]

    streamed_body = {"messages": MESSAGES, **body, "stream": True}
    status, events = post(server, "/v1/chat/completions", streamed_body)
    assert status == 200 and events[0]["choices"][0]["logprobs"] is None
    streamed = [t for e in events[1:-1] for t in e["choices"][0]["logprobs"]["content"]]
    assert streamed == content
    for event in events[1:-1]:  # each chunk carries the tokens of its own text
        piece = event["choices"][0]["delta"].get("content", "")
        assert "".join(t["token"] for t in event["choices"][0]["logprobs"]["content"]) == piece

    plain = chat(server, temperature=0, max_tokens=2)
    assert plain["choices"][0]["logprobs"] is None


def test_completion_logprobs_in_the_legacy_shape(server: ModelServer) -> None:
    body = {"prompt": "kite mango", **GREEDY, "max_tokens": 6, "logprobs": 2}
    status, reply = post(server, "/v1/completions", body)
    assert status == 200
    choice = reply["choices"][0]
    logprobs = choice["logprobs"]
    assert "".join(logprobs["tokens"]) == choice["text"]
    assert len(logprobs["token_logprobs"]) == len(logprobs["top_logprobs"]) == 6
    offsets = [sum(len(t) for t in logprobs["tokens"][:i]) for i in range(6)]
    assert logprobs["text_offset"] == offsets
    for token, value, top in zip(
        logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"], strict=True
    ):
        assert len(top) == 2 and top[token] == value == max(top.values())
    status, events = post(server, "/v1/completions", {**body, "stream": True})
    tokens = [t for e in events[:-1] for t in e["choices"][0]["logprobs"]["tokens"]]
    offsets_streamed = [o for e in events[:-1] for o in e["choices"][0]["logprobs"]["text_offset"]]
    assert tokens == logprobs["tokens"] and offsets_streamed == offsets


# --- several choices ------------------------------------------------------------------------------


def test_n_choices_whole_and_streamed(server: ModelServer) -> None:
    body = {"temperature": 1.0, "seed": 11, "max_tokens": 8, "n": 3, "logprobs": True}
    reply = chat(server, **body)
    choices = reply["choices"]
    assert [choice["index"] for choice in choices] == [0, 1, 2]
    texts = [choice["message"]["content"] for choice in choices]
    assert len(set(texts)) == 3  # each choice draws with its own seed
    assert all(len(choice["logprobs"]["content"]) == 8 for choice in choices)
    assert reply["usage"]["completion_tokens"] == 24
    single = chat(server, temperature=1.0, seed=12, max_tokens=8)  # the second choice's seed
    assert single["choices"][0]["message"]["content"] == texts[1]

    streamed_body = {"messages": MESSAGES, **body, "stream": True}
    status, events = post(server, "/v1/chat/completions", streamed_body)
    assert status == 200 and events[-1] == "[DONE]"
    streamed = ["", "", ""]
    finished = set()
    for event in events[:-1]:
        (choice,) = event["choices"]
        streamed[choice["index"]] += choice["delta"].get("content", "")
        if choice["finish_reason"] is not None:
            finished.add(choice["index"])
    assert streamed == texts and finished == {0, 1, 2}

    status, completion = post(server, "/v1/completions", {"prompt": "abc", "max_tokens": 3, "n": 2})
    assert status == 200 and len(completion["choices"]) == 2
    assert completion["usage"]["completion_tokens"] == 6


# --- usage and fingerprint ------------------------------------------------------------------------


def test_usage_reports_cached_prompt_tokens_and_a_fingerprint(endless_model: Path) -> None:
    with running_server(endless_model, LoadSettings(ctx_tokens=1024, threads=1)) as running:
        first = [{"role": "user", "content": "abc def ghi jkl"}]
        reply = post(running, "/v1/chat/completions", {"messages": first, "max_tokens": 3})[1]
        assert reply["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
        fingerprint = reply["system_fingerprint"]
        assert fingerprint.startswith("fp_") and len(fingerprint) == 15
        answer = reply["choices"][0]["message"]["content"]
        turn = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "x"}]
        _status, events = post(
            running,
            "/v1/chat/completions",
            {
                "messages": turn,
                "max_tokens": 3,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        )
        usage = events[-2]["usage"]
        # the first turn's prompt came from the cache
        assert usage["prompt_tokens_details"]["cached_tokens"] >= reply["usage"]["prompt_tokens"]
        assert usage["prompt_tokens_details"]["cached_tokens"] < usage["prompt_tokens"]
        assert {e["system_fingerprint"] for e in events[:-1]} == {fingerprint}


# --- the official client ----------------------------------------------------------------------


def test_the_openai_client_reads_formats_and_logprobs(server: ModelServer) -> None:
    client = openai.OpenAI(base_url=server.url, api_key="not-needed", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
        temperature=0,
        max_tokens=200,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
        },
        logprobs=True,
        top_logprobs=3,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and choice.message.content is not None
    assert json.loads(choice.message.content)["answer"] in ("yes", "no")
    assert choice.logprobs is not None and choice.logprobs.content is not None
    assert "".join(t.token for t in choice.logprobs.content) == choice.message.content
    assert all(len(t.top_logprobs) == 3 and t.bytes for t in choice.logprobs.content)
    assert reply.system_fingerprint is not None and reply.system_fingerprint.startswith("fp_")
    assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.cached_tokens is not None

    completion = client.completions.create(
        model="x", prompt="abc", max_tokens=4, temperature=0, logprobs=2
    )
    legacy = completion.choices[0].logprobs
    assert legacy is not None and legacy.tokens is not None and len(legacy.tokens) == 4

    unusable = {"name": "a", "schema": {"type": "nope"}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="x",
            messages=MESSAGES,  # type: ignore[arg-type]
            response_format={"type": "json_schema", "json_schema": unusable},  # type: ignore[typeddict-item]
        )
    assert refused.value.param == "response_format"  # type: ignore[attr-defined]
