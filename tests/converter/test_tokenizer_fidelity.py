"""The converted vocabularies tokenize exactly like the original Hugging Face tokenizers.

Each fixture's ``cases.json`` holds the ids the original tokenizer gave; the GGUF we write is
loaded by the real llama.cpp (vocab only, in a child process) and must give the same ids.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from converter.tokenizer import load_tokenizer
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support.tokenizer_helpers import (
    cases,
    copy_fixture,
    edit_json,
    llama_cpp_report,
    reference,
    write_vocab_only_gguf,
)

#: (fixture, files removed first): the SentencePiece ones again from tokenizer.json alone.
VARIANTS = (
    ("llama-bpe", ()),
    ("gpt-2", ()),
    ("llama-spm", ()),
    ("phi-3", ()),
    ("llama-spm", ("tokenizer.model",)),
    ("phi-3", ("tokenizer.model",)),
)


@pytest.mark.parametrize(
    ("name", "without"),
    VARIANTS,
    ids=[f"{name}{'-json-only' if without else ''}" for name, without in VARIANTS],
)
def test_llama_cpp_tokenizes_like_the_original(
    name: str, without: tuple[str, ...], tmp_path: Path
) -> None:
    folder = copy_fixture(name, tmp_path, without=without)
    facts = reference(name)
    spec = load_tokenizer(folder, vocab_size=facts["n_tokens"])
    gguf_path = write_vocab_only_gguf(spec, tmp_path / "vocab.gguf")
    examples = cases(name)

    report = llama_cpp_report(gguf_path, [case["text"] for case in examples])

    mismatches = [
        (case["text"], case["ids"], got)
        for case, got in zip(examples, report.ids, strict=True)
        if got != case["ids"]
    ]
    assert not mismatches, f"{len(mismatches)}/{len(examples)} differ, first: {mismatches[0]!r}"
    assert report.n_vocab == facts["n_tokens"]
    assert report.bos == facts["bos_token_id"]
    assert report.eos == facts["eos_token_id"]
    # llama.cpp adds BOS exactly when the original tokenizer does (GPT-2 does not).
    expected_prefix = [facts["bos_token_id"]] if spec.add_bos else []
    assert report.with_special_tokens_added[: len(expected_prefix)] == expected_prefix
    assert len(report.with_special_tokens_added) == len(expected_prefix) + 1


def test_chat_templates_reach_llama_cpp(tmp_path: Path) -> None:
    phi3 = load_tokenizer(copy_fixture("phi-3", tmp_path), vocab_size=32064)
    llama3 = load_tokenizer(copy_fixture("llama-bpe", tmp_path))
    llama31_template = (
        CHAT_TEMPLATE_FIXTURES / "meta-llama-Llama-3.1-8B-Instruct.jinja"
    ).read_text("utf-8")
    assert llama3.chat_template == llama31_template

    report = llama_cpp_report(write_vocab_only_gguf(phi3, tmp_path / "phi3.gguf"), [])
    assert report.metadata["tokenizer.chat_template"] == phi3.chat_template
    assert phi3.chat_template is not None and phi3.chat_template.startswith("{{ bos_token }}")


def test_special_tokens_are_parsed_as_one_token_when_asked(tmp_path: Path) -> None:
    """Control tokens stay whole in chat-formatted text (llama.cpp's special=True)."""
    spec = load_tokenizer(copy_fixture("phi-3", tmp_path), vocab_size=32064)
    gguf_path = write_vocab_only_gguf(spec, tmp_path / "phi3.gguf")
    text = "<|user|>\nHi<|end|>\n<|assistant|>\n"

    report = llama_cpp_report(gguf_path, [], [text])

    ids = report.special_ids[0]
    for marker in ("<|user|>", "<|end|>", "<|assistant|>"):
        assert spec.token_id(marker) in ids


def _equivalent_layout(tokenizer_json: dict) -> None:
    """The normalizer's two steps swapped (prepending '▁' commutes with replacing spaces by
    '▁'), and a Split on ' ' after it, which finds no space left: the same tokenizer."""
    tokenizer_json["normalizer"]["normalizers"].reverse()
    tokenizer_json["pre_tokenizer"] = {
        "type": "Split",
        "pattern": {"String": " "},
        "behavior": "MergedWithPrevious",
        "invert": False,
    }


def test_equivalent_sentencepiece_json_layout_tokenizes_the_same(tmp_path: Path) -> None:
    folder = copy_fixture("llama-spm", tmp_path, without=("tokenizer.model",))
    edit_json(folder / "tokenizer.json", _equivalent_layout)
    spec = load_tokenizer(folder, vocab_size=32000)
    examples = cases("llama-spm")
    report = llama_cpp_report(
        write_vocab_only_gguf(spec, tmp_path / "vocab.gguf"), [case["text"] for case in examples]
    )
    assert report.ids == [case["ids"] for case in examples]
