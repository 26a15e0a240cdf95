"""Prompt and generation speed through plain llama-cpp-python: the baseline Quantdesk is held to.

Runs in a spawned child with ``llama_cpp.Llama`` itself (not Quantdesk's loader), two ways:

* the llama-bench loop: an empty cache, the prompt decoded in one ``eval``; an empty cache
  again, then ``gen_tokens`` single-token ``eval`` calls (no sampling) — the pure decode speed;
* the generate loop: ``Llama.generate`` with greedy sampling on the same prompt, timed exactly
  as Quantdesk's worker times a reply (prompt speed up to the first sampled token, generation
  speed between the first and the last) — the same work the worker does, minus the worker.

The prompts are texts whose tokens are known exactly (random words that are one token each),
so the worker, which takes text, evaluates the same token ids as this loop.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter.child_process import Emit, run_in_child

#: Shortest word piece used in prompts (short pieces are often merged with their neighbours).
_MIN_WORD_LETTERS = 3
_MAX_WORDS = 3000


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    tokens: tuple[int, ...]  # as the worker tokenizes ``text``: BOS (when wanted) first


@dataclass(frozen=True, slots=True)
class PlainSpeed:
    prompts: tuple[Prompt, ...]  # prompts[0] is the warm-up, one more per repeat
    bench_pp: tuple[float, ...]  # tokens/s of each run
    bench_tg: tuple[float, ...]
    generate_pp: tuple[float, ...]
    generate_tg: tuple[float, ...]
    generated_tokens: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": len(self.prompts[0].tokens),
            "bench_pp": median(self.bench_pp),
            "bench_tg": median(self.bench_tg),
            "generate_pp": median(self.generate_pp),
            "generate_tg": median(self.generate_tg),
            "runs": {
                "bench_pp": list(self.bench_pp),
                "bench_tg": list(self.bench_tg),
                "generate_pp": list(self.generate_pp),
                "generate_tg": list(self.generate_tg),
                "generated_tokens": list(self.generated_tokens),
            },
        }


def median(values: tuple[float, ...] | list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _one_token_words(llm: Any) -> list[str]:
    """ " word" pieces that the tokenizer turns back into exactly that one token."""
    words: list[str] = []
    for token in range(llm.n_vocab()):
        piece = llm.detokenize([token]).decode("utf-8", errors="replace")
        letters = piece[1:]
        if not (piece.startswith(" ") and letters.isascii() and letters.isalpha()):
            continue
        if len(letters) < _MIN_WORD_LETTERS or not letters.islower():
            continue
        if llm.tokenize(piece.encode(), add_bos=False, special=False) == [token]:
            words.append(piece)
            if len(words) >= _MAX_WORDS:
                break
    if not words:
        raise RuntimeError("the vocabulary has no single-token words to build prompts from")
    return words


def worker_tokens(llm: Any, text: str) -> tuple[int, ...]:
    """The token ids Quantdesk's worker evaluates for a plain-text prompt."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    tokens = llm.tokenize(text.encode(), add_bos=False, special=False)
    bos = llm.token_bos()
    if llama_cpp.llama_vocab_get_add_bos(vocab) and bos >= 0 and (not tokens or tokens[0] != bos):
        tokens.insert(0, bos)
    return tuple(tokens)


def make_prompts(llm: Any, prompt_tokens: int, count: int, seed: int = 1234) -> tuple[Prompt, ...]:
    """``count`` different texts of about ``prompt_tokens`` tokens (BOS included)."""
    words = _one_token_words(llm)
    rng = np.random.default_rng(seed)
    prompts = []
    for _ in range(count):
        chosen = rng.integers(0, len(words), size=max(1, prompt_tokens - 1))
        text = "".join(words[i] for i in chosen)  # keeps its leading space: one token per word
        prompts.append(Prompt(text, worker_tokens(llm, text)))
    return tuple(prompts)


def _finish(llm: Any) -> None:
    """Wait for the device: ``eval`` reads no logits, so on a GPU its decode is only queued."""
    import llama_cpp

    llama_cpp.llama_synchronize(llm.ctx)


def _bench_pp(llm: Any, tokens: tuple[int, ...]) -> float:
    llm.reset()
    started = time.perf_counter()
    llm.eval(list(tokens))
    _finish(llm)
    return len(tokens) / (time.perf_counter() - started)


def _bench_tg(llm: Any, tokens: tuple[int, ...], count: int) -> float:
    llm.reset()
    started = time.perf_counter()
    for i in range(count):
        llm.eval([tokens[i % len(tokens)]])
    _finish(llm)
    return count / (time.perf_counter() - started)


def _generate(llm: Any, tokens: tuple[int, ...], count: int) -> tuple[float, float, int]:
    """(prompt tokens/s, generation tokens/s, tokens sampled), timed like the worker's reply."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    cached = llm.input_ids[: llm.n_tokens].tolist()
    shared = 0
    for old, new in zip(cached, tokens, strict=False):
        if old != new:
            break
        shared += 1
    reused = min(shared, len(tokens) - 1)
    started = time.perf_counter()
    stream = llm.generate(
        list(tokens), top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True
    )
    sampled, first_at, last_at = 0, started, started
    try:
        for token in stream:
            last_at = time.perf_counter()
            if sampled == 0:
                first_at = last_at
            sampled += 1
            if llama_cpp.llama_vocab_is_eog(vocab, token) or sampled >= count:
                break
    finally:
        stream.close()
    pp = (len(tokens) - reused) / (first_at - started)
    tg = (sampled - 1) / (last_at - first_at) if sampled > 1 else 0.0
    return pp, tg, sampled


def _plain_in_child(
    emit: Emit,
    model_path: str,
    llama_kwargs: dict[str, Any],
    prompt_tokens: int,
    gen_tokens: int,
    repeats: int,
) -> PlainSpeed:
    from llama_cpp import Llama

    llm = Llama(model_path, verbose=False, **llama_kwargs)
    try:
        prompts = make_prompts(llm, prompt_tokens, repeats + 1)
        warm = prompts[0].tokens
        _bench_pp(llm, warm)
        _bench_tg(llm, warm, 2)
        _generate(llm, warm, 4)
        bench_pp, bench_tg, gen_pp, gen_tg, sampled = [], [], [], [], []
        for prompt in prompts[1:]:
            bench_pp.append(_bench_pp(llm, prompt.tokens))
            bench_tg.append(_bench_tg(llm, prompt.tokens, gen_tokens))
        for prompt in prompts[1:]:
            pp, tg, count = _generate(llm, prompt.tokens, gen_tokens)
            gen_pp.append(pp)
            gen_tg.append(tg)
            sampled.append(count)
    finally:
        llm.close()
    return PlainSpeed(
        prompts, tuple(bench_pp), tuple(bench_tg), tuple(gen_pp), tuple(gen_tg), tuple(sampled)
    )


def measure_plain(
    model_path: Path,
    *,
    prompt_tokens: int,
    gen_tokens: int,
    repeats: int,
    **llama_kwargs: Any,
) -> PlainSpeed:
    """Both loops on ``model_path`` opened with ``Llama(model_path, **llama_kwargs)``."""
    return run_in_child(
        _plain_in_child,
        str(model_path),
        llama_kwargs,
        prompt_tokens,
        gen_tokens,
        repeats,
        what=f"Timing {Path(model_path).name} with plain llama-cpp-python",
    )
