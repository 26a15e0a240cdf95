"""Tokenizers that cannot be converted faithfully are refused with a readable TokenizerError."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from converter.errors import TokenizerError
from converter.tokenizer import load_tokenizer
from tests.support.tokenizer_helpers import copy_fixture, edit_json


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def sentencepiece_bytes(pieces: list[str], model_type: int) -> bytes:
    """A minimal ``ModelProto``: the pieces (score 0) and a TrainerSpec with ``model_type``."""
    encoded = b"".join(
        _field(1, _field(1, text.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", 0.0))
        for text in pieces
    )
    return encoded + _field(2, _varint(3 << 3) + _varint(model_type))


def test_unknown_pre_tokenizer_regex_is_named(tmp_path: Path) -> None:
    folder = copy_fixture("llama-bpe", tmp_path)

    def change_regex(tokenizer: dict) -> None:
        split = tokenizer["pre_tokenizer"]["pretokenizers"][0]
        split["pattern"]["Regex"] = split["pattern"]["Regex"].replace(r"\p{N}{1,3}", r"\p{N}{1,4}")

    edit_json(folder / "tokenizer.json", change_regex)
    with pytest.raises(TokenizerError, match="pre-tokenizer") as caught:
        load_tokenizer(folder)
    # The message shows the regex it found, as written in tokenizer.json.
    assert r"`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,4}|" in str(
        caught.value
    )  # the message shows the regex it found
    assert "llama.cpp" in str(caught.value)


def test_unknown_pre_tokenizer_step_is_named(tmp_path: Path) -> None:
    folder = copy_fixture("gpt-2", tmp_path)
    edit_json(
        folder / "tokenizer.json",
        lambda t: t.update(
            pre_tokenizer={
                "type": "Sequence",
                "pretokenizers": [{"type": "WhitespaceSplit"}, t["pre_tokenizer"]],
            }
        ),
    )
    with pytest.raises(TokenizerError, match="WhitespaceSplit"):
        load_tokenizer(folder)


def test_byte_level_prefix_space_is_refused(tmp_path: Path) -> None:
    folder = copy_fixture("gpt-2", tmp_path)
    edit_json(folder / "tokenizer.json", lambda t: t["pre_tokenizer"].update(add_prefix_space=True))
    with pytest.raises(TokenizerError, match="add_prefix_space"):
        load_tokenizer(folder)


def test_same_steps_with_other_settings_are_told_apart(tmp_path: Path) -> None:
    """Llama 3's split rule with and without ignore_merges are different llama.cpp names."""
    folder = copy_fixture("llama-bpe", tmp_path)
    edit_json(folder / "tokenizer.json", lambda t: t["model"].update(ignore_merges=False))
    assert load_tokenizer(folder).pre == "smaug-bpe"


def test_corrupt_sentencepiece_model(tmp_path: Path) -> None:
    folder = copy_fixture("llama-spm", tmp_path)
    model = folder / "tokenizer.model"
    model.write_bytes(model.read_bytes()[:1000])  # a download cut short
    with pytest.raises(TokenizerError, match="not a valid SentencePiece model"):
        load_tokenizer(folder)
    model.write_bytes(b"\xff" * 64)
    with pytest.raises(TokenizerError, match="not a valid SentencePiece model"):
        load_tokenizer(folder)


def test_unigram_sentencepiece_is_refused(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.model").write_bytes(
        sentencepiece_bytes(["<unk>", "a", "b"], model_type=1)
    )
    with pytest.raises(TokenizerError, match="unigram"):
        load_tokenizer(tmp_path)


def test_no_tokenizer_files(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TokenizerError, match="No tokenizer found"):
        load_tokenizer(tmp_path)
    with pytest.raises(TokenizerError, match="does not exist"):
        load_tokenizer(tmp_path / "missing")


def test_damaged_json(tmp_path: Path) -> None:
    folder = copy_fixture("gpt-2", tmp_path)
    text = (folder / "tokenizer.json").read_text("utf-8")
    (folder / "tokenizer.json").write_text(text[: len(text) // 2], "utf-8")
    with pytest.raises(TokenizerError, match="not valid JSON"):
        load_tokenizer(folder)


def test_tokenizer_larger_than_vocab_size(tmp_path: Path) -> None:
    folder = copy_fixture("phi-3", tmp_path)
    with pytest.raises(TokenizerError, match=r"32010.*32000"):
        load_tokenizer(folder, vocab_size=32000)


def test_malformed_merge(tmp_path: Path) -> None:
    folder = copy_fixture("gpt-2", tmp_path)
    edit_json(folder / "tokenizer.json", lambda t: t["model"]["merges"].insert(5, "Ġthe"))
    with pytest.raises(TokenizerError, match="merge number 5"):
        load_tokenizer(folder)


#: SentencePiece-style pipelines llama.cpp cannot reproduce, and the step the refusal names.
DIFFERENT_PIPELINES = {
    "nfkc-normalizer": ({"normalizer": {"type": "NFKC"}}, "NFKC step"),
    "lowercase-after-replace": (
        {
            "normalizer": {
                "type": "Sequence",
                "normalizers": [
                    {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
                    {"type": "Lowercase"},
                ],
            }
        },
        "Lowercase step",
    ),
    "split-on-a-letter": (
        {
            "pre_tokenizer": {
                "type": "Split",
                "pattern": {"String": "a"},
                "behavior": "Isolated",
                "invert": False,
            }
        },
        "Split step (on 'a', Isolated)",
    ),
    "splitting-metaspace": (
        {
            "normalizer": None,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "split": True},
        },
        "Metaspace step that splits the text at every space",
    ),
}


@pytest.mark.parametrize("case", list(DIFFERENT_PIPELINES))
def test_unsupported_sentencepiece_json_layout(case: str, tmp_path: Path) -> None:
    change, step = DIFFERENT_PIPELINES[case]
    folder = copy_fixture("llama-spm", tmp_path, without=("tokenizer.model",))
    edit_json(folder / "tokenizer.json", lambda t: t.update(change))
    with pytest.raises(TokenizerError) as raised:
        load_tokenizer(folder)
    message = str(raised.value)
    assert step in message
    assert "cannot be converted faithfully" in message and "tokenizer.model" in message
    assert "{" not in message  # a sentence, not a dump of the JSON


def test_added_token_without_id(tmp_path: Path) -> None:
    folder = copy_fixture("gpt-2", tmp_path)
    edit_json(folder / "tokenizer.json", lambda t: t["added_tokens"].append({"content": "<x>"}))
    with pytest.raises(TokenizerError, match="no valid id"):
        load_tokenizer(folder)
    assert json.loads((folder / "tokenizer_config.json").read_text())  # inputs untouched
