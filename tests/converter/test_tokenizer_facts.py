"""The converted vocabularies match the reference GGUFs that llama.cpp's converter wrote.

``gguf_reference.json`` summarises each reference file; the differences a current converter
is expected to show are listed in its notes and asserted here explicitly.
"""

from __future__ import annotations

import collections
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from gguf import TokenType

from converter.tokenizer import TokenizerSpec, load_tokenizer
from tests.conftest import CHAT_TEMPLATE_FIXTURES, TOKENIZER_FIXTURES
from tests.support.tokenizer_helpers import FIXTURE_NAMES, copy_fixture, edit_json, reference


def lines_sha256(items: Sequence[str]) -> str:
    """How gguf_reference.json hashes token and merge lists: one per line."""
    return hashlib.sha256(("\n".join(items) + "\n").encode("utf-8")).hexdigest()


@pytest.fixture(scope="module")
def specs() -> dict[str, TokenizerSpec]:
    return {
        name: load_tokenizer(TOKENIZER_FIXTURES / name, vocab_size=reference(name)["n_tokens"])
        for name in FIXTURE_NAMES
    }


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_vocabulary_matches_the_reference_gguf(name: str, specs: dict[str, TokenizerSpec]) -> None:
    spec, facts = specs[name], reference(name)
    assert spec.model == facts["tokenizer.ggml.model"]
    assert spec.pre == facts["tokenizer.ggml.pre"]
    assert len(spec.tokens) == facts["n_tokens"]
    assert lines_sha256(spec.tokens) == facts["tokens_sha256"]
    if facts["n_merges"] is None:
        assert spec.merges is None
    else:
        assert spec.merges is not None and len(spec.merges) == facts["n_merges"]
        assert lines_sha256(spec.merges) == facts["merges_sha256"]
    assert (spec.scores is not None) == facts["scores_present"]
    assert spec.bos_id == facts["bos_token_id"]
    assert spec.eos_id == facts["eos_token_id"]
    assert spec.unk_id == facts["unknown_token_id"]
    assert spec.pad_id == facts["padding_token_id"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_token_types_match_except_padding(name: str, specs: dict[str, TokenizerSpec]) -> None:
    """Padding is UNUSED, as a current converter writes it (the old reference used UNKNOWN)."""
    facts = reference(name)
    expected = collections.Counter({int(kind): n for kind, n in facts["token_type_counts"].items()})
    if facts["n_padding_tokens"]:
        expected[facts["padding_token_type"]] -= facts["n_padding_tokens"]
        expected[int(TokenType.UNUSED)] += facts["n_padding_tokens"]
    assert collections.Counter(specs[name].token_types) == +expected


def test_phi3_is_padded_to_config_vocab_size(specs: dict[str, TokenizerSpec]) -> None:
    spec = specs["phi-3"]
    assert spec.tokens[32010] == "<|user|>"
    assert spec.tokens[32011:] == tuple(f"[PAD{i}]" for i in range(32011, 32064))
    assert set(spec.token_types[32011:]) == {TokenType.UNUSED}
    assert spec.scores is not None and set(spec.scores[32011:]) == {-10000.0}
    # added_tokens_decoder re-types ids inside the SentencePiece vocabulary.
    assert spec.token_types[0] == TokenType.CONTROL  # <unk>, special
    assert spec.token_types[2] == TokenType.USER_DEFINED  # </s>, not special in Phi-3
    assert spec.eot_id == spec.token_id("<|end|>")


def test_without_vocab_size_no_padding_is_added() -> None:
    spec = load_tokenizer(TOKENIZER_FIXTURES / "phi-3")
    assert len(spec.tokens) == 32011


def test_add_bos_and_eos(specs: dict[str, TokenizerSpec]) -> None:
    assert (specs["llama-bpe"].add_bos, specs["llama-bpe"].add_eos) == (True, False)
    assert (specs["llama-spm"].add_bos, specs["llama-spm"].add_eos) == (True, False)
    assert (specs["phi-3"].add_bos, specs["phi-3"].add_eos) == (True, False)
    assert (specs["gpt-2"].add_bos, specs["gpt-2"].add_eos) == (False, False)


def test_add_bos_falls_back_to_the_post_processor(tmp_path: Path) -> None:
    """Without add_bos_token, Llama 3's TemplateProcessing (BOS + text) decides."""
    folder = copy_fixture("llama-bpe", tmp_path)
    edit_json(
        folder / "tokenizer_config.json",
        lambda c: [c.pop(k) for k in ("add_bos_token", "add_eos_token")],
    )
    spec = load_tokenizer(folder)
    assert (spec.add_bos, spec.add_eos) == (True, False)
    assert spec.bos_id == 128000


def test_2023_added_token_dicts_name_the_special_tokens(specs: dict[str, TokenizerSpec]) -> None:
    config = json.loads(
        (TOKENIZER_FIXTURES / "llama-spm" / "tokenizer_config.json").read_text("utf-8")
    )
    assert config["bos_token"]["__type"] == "AddedToken"
    spec = specs["llama-spm"]
    assert (spec.bos_id, spec.eos_id, spec.unk_id) == (1, 2, 0)
    assert spec.token_types[0] == TokenType.UNKNOWN


def test_merges_as_pairs_give_the_same_vocabulary(
    tmp_path: Path, specs: dict[str, TokenizerSpec]
) -> None:
    folder = copy_fixture("gpt-2", tmp_path)

    def to_pairs(tokenizer: dict) -> None:
        tokenizer["model"]["merges"] = [merge.split(" ") for merge in tokenizer["model"]["merges"]]

    edit_json(folder / "tokenizer.json", to_pairs)
    assert load_tokenizer(folder, vocab_size=50257) == specs["gpt-2"]


def test_ids_from_config_and_generation_config(tmp_path: Path) -> None:
    """tokenizer_config names win; config.json and generation_config.json fill the gaps."""
    folder = copy_fixture("gpt-2", tmp_path)
    edit_json(folder / "tokenizer_config.json", lambda c: c.pop("eos_token"))
    (folder / "config.json").write_text(json.dumps({"bos_token_id": 7, "pad_token_id": 50256}))
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [50256, 3]}))
    spec = load_tokenizer(folder)
    assert (spec.bos_id, spec.eos_id, spec.pad_id) == (50256, 50256, 50256)


def test_chat_template_sources(tmp_path: Path, specs: dict[str, TokenizerSpec]) -> None:
    llama31 = (CHAT_TEMPLATE_FIXTURES / "meta-llama-Llama-3.1-8B-Instruct.jinja").read_text("utf-8")
    assert specs["llama-bpe"].chat_template == llama31
    assert specs["gpt-2"].chat_template is None

    folder = copy_fixture("gpt-2", tmp_path)
    qwen = (CHAT_TEMPLATE_FIXTURES / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text("utf-8")
    (folder / "chat_template.jinja").write_text(qwen, "utf-8")
    assert load_tokenizer(folder).chat_template == qwen

    named = [
        {"name": "tool_use", "template": "{{ tools }}"},
        {"name": "default", "template": llama31},
    ]
    edit_json(folder / "tokenizer_config.json", lambda c: c.update(chat_template=named))
    assert load_tokenizer(folder).chat_template == llama31


def test_added_tokens_get_control_or_user_defined_types(tmp_path: Path) -> None:
    folder = copy_fixture("gpt-2", tmp_path)

    def add_tokens(tokenizer: dict) -> None:
        tokenizer["added_tokens"] += [
            {"id": 50257, "content": "<tool_call>", "special": False, "normalized": False},
            {"id": 50258, "content": "<|im_end|>", "special": False, "normalized": False},
            {"id": 50259, "content": "<think>", "special": True, "normalized": False},
        ]

    edit_json(folder / "tokenizer.json", add_tokens)
    spec = load_tokenizer(folder, vocab_size=50264)
    assert spec.token_types[50257:] == (
        TokenType.USER_DEFINED,
        TokenType.CONTROL,  # looks like a control token although not marked special
        TokenType.CONTROL,
        *[TokenType.UNUSED] * 4,
    )
    assert spec.tokens[50260:] == tuple(f"[PAD{i}]" for i in range(50260, 50264))
    assert spec.eot_id == 50258
