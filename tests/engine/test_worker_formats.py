"""Grammars, JSON schemas, log-probabilities and prompt-cache reuse in the inference worker, on
real llama.cpp with the tiny random-weight model; the references are llama-cpp-python's own
tokenizer and logits (``Llama`` with ``logits_all``), computed in a child process."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converter.child_process import run_in_child
from desktop.engine.worker import (
    FormatKind,
    InferenceWorker,
    InvalidReplyFormat,
    LoadSettings,
    ReplyFormat,
    ReplyStats,
    SamplingSettings,
    StopReason,
    TokenLogprobs,
    json_schema_format,
)
from tests.support import worker_helpers

endless_model = worker_helpers.endless_model

#: A small batch, so a repeated short prompt still reuses whole batches from the cache.
BATCH_TOKENS = 4
LOAD = LoadSettings(ctx_tokens=1024, threads=1, batch_tokens=BATCH_TOKENS)
#: Log-probabilities agree this closely with llama-cpp-python's (token by token or all at once
#: evaluate the same F16 model with slightly different rounding).
TOLERANCE = 2e-3
YES_NO = ReplyFormat(FormatKind.GRAMMAR, 'root ::= "yes" | "no"')
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"enum": ["yes", "no"]},
        "count": {"type": "integer"},
        "sure": {"type": "boolean"},
    },
    "required": ["answer", "count", "sure"],
}


@pytest.fixture(scope="module")
def worker(endless_model: Path) -> Iterator[InferenceWorker]:
    with InferenceWorker() as running:
        running.load(endless_model, LOAD)
        yield running


def complete(
    worker: InferenceWorker, prompt: str, sampling: SamplingSettings, **options: Any
) -> ReplyStats:
    pieces: list[str] = []
    stats = worker.complete(prompt, sampling, on_token=pieces.append, **options)
    assert "".join(pieces) == stats.text
    return stats


# --- grammars and JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_grammar_allows_only_its_words(worker: InferenceWorker, seed: int) -> None:
    sampling = SamplingSettings(temperature=1.5, top_k=0, top_p=1.0, min_p=0.0, seed=seed)
    stats = complete(worker, "abc def", sampling, reply_format=YES_NO)
    assert stats.text in ("yes", "no")
    assert stats.stop_reason is StopReason.EOS  # the grammar was complete: only the end was left


def test_a_grammar_holds_for_greedy_replies_too(worker: InferenceWorker) -> None:
    free = complete(worker, "abc def", SamplingSettings.greedy(max_tokens=8))
    assert free.text not in ("yes", "no")  # unconstrained, this model says something else
    bound = complete(worker, "abc def", SamplingSettings.greedy(max_tokens=8), reply_format=YES_NO)
    assert bound.text in ("yes", "no") and bound.stop_reason is StopReason.EOS


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_json_schema_replies_parse_and_match_the_schema(worker: InferenceWorker, seed: int) -> None:
    sampling = SamplingSettings(temperature=1.0, seed=seed, max_tokens=300)
    stats = complete(worker, "abc def", sampling, reply_format=json_schema_format(SCHEMA))
    assert stats.stop_reason is StopReason.EOS
    value = json.loads(stats.text)
    assert set(value) == {"answer", "count", "sure"}
    assert value["answer"] in ("yes", "no")
    assert isinstance(value["count"], int) and isinstance(value["sure"], bool)


@pytest.mark.parametrize(
    ("reply_format", "words"),
    [
        (
            ReplyFormat(FormatKind.GRAMMAR, "root ::= this is (not valid GBNF"),
            "^The grammar is not valid GBNF: expecting '\\)'.$",
        ),
        (ReplyFormat(FormatKind.GRAMMAR, 'start ::= "a"'), "root"),
        (ReplyFormat(FormatKind.GRAMMAR, 'root ::= "a" missing'), "Undefined rule identifier"),
        (json_schema_format({"type": "hiccup"}), "cannot be turned into a grammar"),
        (json_schema_format({"$ref": "other.json"}), "cannot be turned into a grammar"),
    ],
)
def test_an_unusable_grammar_is_refused_before_any_token(
    worker: InferenceWorker, reply_format: ReplyFormat, words: str
) -> None:
    pieces: list[str] = []
    with pytest.raises(InvalidReplyFormat, match=words) as refused:
        worker.complete(
            "abc", SamplingSettings.greedy(), on_token=pieces.append, reply_format=reply_format
        )
    assert pieces == []
    assert len(str(refused.value)) < 200 and "\n" not in str(refused.value)
    after = complete(worker, "abc", SamplingSettings.greedy(max_tokens=3))
    assert after.generated_tokens == 3  # the worker goes on


# --- log-probabilities ----------------------------------------------------------------------------


def reference_log_softmax(
    _emit: Any, path: str, prompt: str, generated: list[int]
) -> tuple[list[int], list[list[float]]]:
    """llama-cpp-python's prompt tokens, and the log-softmax of its logits at each place a
    token of ``generated`` was drawn (the whole sequence evaluated at once, every row kept)."""
    import numpy as np

    from desktop.engine.llama_loading import open_llama

    llama = open_llama(path, n_ctx=512, n_threads=1, logits_all=True)
    try:
        tokens = llama.tokenize(prompt.encode(), add_bos=True, special=False)
        llama.eval(tokens + generated[:-1])
        start = len(tokens) - 1
        rows = np.asarray(llama.scores[start : start + len(generated)], dtype=np.float64)
        peak = rows.max(axis=1, keepdims=True)
        log_total = peak + np.log(np.exp(rows - peak).sum(axis=1, keepdims=True))
        return tokens, (rows - log_total).tolist()
    finally:
        llama.close()


def test_logprobs_are_llama_cpp_s_log_softmax_and_the_top_one_is_greedy(
    worker: InferenceWorker, endless_model: Path
) -> None:
    received: list[TokenLogprobs] = []
    stats = complete(
        worker,
        "kite mango",
        SamplingSettings.greedy(max_tokens=12),
        logprobs=5,
        on_logprobs=received.extend,
    )
    assert len(received) == stats.generated_tokens == 12
    generated = [entry.chosen.token for entry in received]
    _tokens, reference = run_in_child(
        reference_log_softmax, str(endless_model), "kite mango", generated, what="Reference logits"
    )
    for entry, row in zip(received, reference, strict=True):
        ranked = sorted(row, reverse=True)
        # the greedy token is the most likely one, and the first of the alternatives
        assert entry.top[0].token == entry.chosen.token
        assert entry.top[0].logprob == entry.chosen.logprob
        assert row[entry.chosen.token] >= ranked[0] - TOLERANCE
        assert entry.chosen.logprob == pytest.approx(row[entry.chosen.token], abs=TOLERANCE)
        for top in entry.top:  # the five most likely, best first, at llama.cpp's values
            assert top.logprob == pytest.approx(row[top.token], abs=TOLERANCE)
            assert row[top.token] >= ranked[4] - TOLERANCE
        logprobs = [top.logprob for top in entry.top]
        assert logprobs == sorted(logprobs, reverse=True)
        assert len({top.token for top in entry.top}) == 5
        assert sum(math.exp(p) for p in row) == pytest.approx(1.0)
    spelled = b"".join(entry.chosen.piece for entry in received)
    assert spelled.decode("utf-8", errors="replace") == stats.text


def test_sampled_tokens_get_their_own_logprob_and_no_alternatives_with_zero(
    worker: InferenceWorker,
) -> None:
    received: list[TokenLogprobs] = []
    sampling = SamplingSettings(
        temperature=1.5, top_k=0, top_p=1.0, min_p=0.0, seed=3, max_tokens=10
    )
    stats = complete(worker, "abc", sampling, logprobs=0, on_logprobs=received.extend)
    assert len(received) == stats.generated_tokens
    assert all(entry.top == () and entry.chosen.logprob <= 0.0 for entry in received)


# --- the prompt cache -----------------------------------------------------------------------------


def reference_tokens(_emit: Any, path: str, prompts: list[str]) -> list[list[int]]:
    from desktop.engine.llama_loading import open_llama

    llama = open_llama(path, n_ctx=256, n_threads=1, vocab_only=True)
    try:
        return [llama.tokenize(p.encode(), add_bos=True, special=False) for p in prompts]
    finally:
        llama.close()


def test_cached_prompt_tokens_count_what_the_slot_reused(endless_model: Path) -> None:
    first, second = "abc def ghi jkl mno", "abc def ghi xyz"
    tokens_first, tokens_second = run_in_child(
        reference_tokens, str(endless_model), [first, second], what="Tokenize"
    )
    shared = next(
        i for i, (a, b) in enumerate(zip(tokens_first, tokens_second, strict=False)) if a != b
    )
    greedy = SamplingSettings.greedy(max_tokens=4)
    with InferenceWorker() as fresh:
        fresh.load(endless_model, LOAD)
        assert complete(fresh, first, greedy).cached_prompt_tokens == 0
        reused = complete(fresh, second, greedy)
        assert reused.prompt_tokens == len(tokens_second)
        assert reused.cached_prompt_tokens == shared > 0
        # the same prompt again: everything but its last batch comes from the cache
        again = complete(fresh, second, greedy)
        expected = (len(tokens_second) - 1) // BATCH_TOKENS * BATCH_TOKENS
        assert again.cached_prompt_tokens == expected > 0
        assert again.text == reused.text
