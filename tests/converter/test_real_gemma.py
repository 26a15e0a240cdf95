"""Google's Gemma 3 270M, a real trained model, as transformers 5.x saves it, converts faithfully.

The checkpoint (tests/support/real_gemma.py) holds the weights of the Q4_K_M GGUF that
llama.cpp's own tools made, dequantized by transformers, and only a ``tokenizer.json``. The
converted F16 must have the shipped GGUF's layout, tokenize like the checkpoint's Hugging Face
tokenizer, compute the logits transformers computes, and write sensible English.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from converter.child_process import run_in_child
from converter.convert import convert_checkpoint
from converter.gguf_header import read_gguf_header
from converter.progress import run_job
from converter.written import WrittenFile
from tests.converter.test_convert_logits import (
    F16_TOLERANCE,
    assert_same_best_tokens,
    relative_errors,
)
from tests.support.checkpoints import greedy_runs, llama_cpp_logits, transformers_logits
from tests.support.tokenizer_helpers import TRICKY_TEXTS, cases, llama_cpp_report

#: Gemma's chat markup, which must stay single control tokens.
CHAT_TEXT = "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"
LOGITS_TEXT = (
    "The quick brown fox jumps over the lazy dog. Paris is the capital and largest city of "
    "France, on the river Seine."
)


@pytest.fixture(scope="module")
def converted(real_gemma_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> WrittenFile:
    out = tmp_path_factory.mktemp("real-gemma-f16")
    return run_job(convert_checkpoint(real_gemma_checkpoint, out, outtype="f16", name="gemma3"))


@pytest.fixture(scope="module")
def hf_tokenizer(real_gemma_checkpoint: Path) -> Any:
    import transformers

    return transformers.AutoTokenizer.from_pretrained(real_gemma_checkpoint)


def _vocabularies_in_child(_emit: Any, paths: list[str]) -> list[list[str]]:
    import llama_cpp

    from desktop.engine.llama_loading import open_llama

    vocabularies = []
    for path in paths:
        llm = open_llama(path, vocab_only=True, n_threads=1)
        try:
            vocab = llama_cpp.llama_model_get_vocab(llm.model)
            count = llama_cpp.llama_vocab_n_tokens(vocab)
            texts = [llama_cpp.llama_vocab_get_text(vocab, i) for i in range(count)]
            vocabularies.append([text.decode("utf-8") for text in texts])
        finally:
            llm.close()
    return vocabularies


def llama_cpp_vocabularies(paths: list[Path]) -> list[list[str]]:
    """Every token's text as llama.cpp reads it from each GGUF (gguf-py's reader needs half a
    minute for a 262,144-token vocabulary)."""
    return run_in_child(
        _vocabularies_in_child, [str(p) for p in paths], what="Reading vocabularies"
    )


def test_converts_to_the_layout_llama_cpp_wrote(
    converted: WrittenFile, real_gemma_gguf: Path
) -> None:
    """Same tensors (names and shapes), hyperparameters and vocabulary as the shipped GGUF."""
    assert converted.architecture == "gemma3"
    assert converted.level == "F16"
    mine, theirs = read_gguf_header(converted.path), read_gguf_header(real_gemma_gguf)
    assert {t.name: t.shape for t in mine.tensors} == {t.name: t.shape for t in theirs.tensors}
    assert len(mine.tensors) == 236

    # The shipped file predates some keys (the SWA layer pattern, the local rope base), so its
    # keys are the ones compared.
    hparams = sorted(key for key in theirs.metadata if key.startswith("gemma3."))
    assert {k: mine.metadata.get(k) for k in hparams} == {k: theirs.metadata[k] for k in hparams}
    for key in ("model", "bos_token_id", "eos_token_id", "padding_token_id", "unknown_token_id"):
        assert mine.metadata[f"tokenizer.ggml.{key}"] == theirs.metadata[f"tokenizer.ggml.{key}"]

    ours, shipped = llama_cpp_vocabularies([converted.path, real_gemma_gguf])
    # llama.cpp's converter read Google's tokenizer.model, which spells the tokens for runs of
    # spaces with real spaces; tokenizer.json spells them with '▁', as every other token.
    assert ours == [token.replace(" ", "▁") for token in shipped]


def test_token_ids_match_its_hugging_face_tokenizer(
    converted: WrittenFile, hf_tokenizer: Any
) -> None:
    texts = [case["text"] for case in cases("llama-spm")] + list(TRICKY_TEXTS)
    report = llama_cpp_report(converted.path, texts, [*texts, CHAT_TEXT])

    expected = [hf_tokenizer.encode(text, add_special_tokens=False) for text in texts]
    plain = [
        text for text, want, got in zip(texts, expected, report.ids, strict=True) if want != got
    ]
    # Hugging Face always reads special-token text as the token; llama.cpp does when asked.
    special = [
        text
        for text, got in zip([*texts, CHAT_TEXT], report.special_ids, strict=True)
        if got != hf_tokenizer.encode(text, add_special_tokens=False)
    ]
    special_free = [text for text in plain if "<" not in text]
    assert not special_free, f"{len(special_free)}/{len(texts)} differ, first {special_free[0]!r}"
    assert not special, f"{len(special)} differ with special tokens, first {special[0]!r}"
    assert report.bos == hf_tokenizer.bos_token_id
    assert report.with_special_tokens_added[0] == hf_tokenizer.bos_token_id


def test_f16_logits_match_transformers(
    converted: WrittenFile, real_gemma_checkpoint: Path, hf_tokenizer: Any
) -> None:
    ids = hf_tokenizer.encode(LOGITS_TEXT)  # with <bos>, as Gemma is always run
    reference = transformers_logits(real_gemma_checkpoint, ids)
    got = llama_cpp_logits(converted.path, ids)

    assert got.shape == reference.shape
    assert relative_errors(reference, got).max() <= F16_TOLERANCE
    assert_same_best_tokens(reference, got, F16_TOLERANCE)


#: Plain prompts and a word the model's greedy continuation must contain (it has 270M weights:
#: "The capital of France is" gets " the capital of the country of France.").
GREEDY_PROMPTS = {
    "The Eiffel Tower is in the city of": "Paris",
    "Monday, Tuesday, Wednesday,": "Thursday",
}


@pytest.mark.parametrize("prompt", list(GREEDY_PROMPTS))
def test_greedy_text_is_sensible_english(
    prompt: str, converted: WrittenFile, hf_tokenizer: Any
) -> None:
    (run,) = greedy_runs([converted.path], hf_tokenizer.encode(prompt), 8)
    text = hf_tokenizer.decode(run["tokens"])
    assert GREEDY_PROMPTS[prompt] in text, text
