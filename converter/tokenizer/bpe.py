"""Byte-level BPE (GPT-2 style) from tokenizer.json → ``tokenizer.ggml.model = "gpt2"``."""

from __future__ import annotations

from typing import Any

from gguf import TokenType

from converter.tokenizer.added_tokens import config_added_tokens, tokenizer_json_added_tokens
from converter.tokenizer.files import TokenizerFiles
from converter.tokenizer.pretokenizers import (
    PipelineError,
    UnknownPreTokenizer,
    recognise_pre_tokenizer,
)
from converter.tokenizer.tokenizer_spec import MODEL_BYTE_LEVEL_BPE, TokenizerSpec
from converter.tokenizer.vocabulary import VocabularyTable, vocabulary_size

#: A space inside a merge part (new ``["a", "b"]`` merges allow it) is written as the byte-level
#: alphabet writes a space, because llama.cpp splits merge strings at the first space.
_SPACE_IN_MERGE = chr(ord(" ") + 256)


def is_byte_level_bpe(tokenizer_json: dict[str, Any]) -> bool:
    """True when tokenizer.json is a GPT-2 style byte-level BPE (not SentencePiece-like)."""
    model = tokenizer_json.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback", False):
        return False
    declared = (tokenizer_json.get("pre_tokenizer"), tokenizer_json.get("decoder"))
    return any("ByteLevel" in str(part) for part in declared)


def _merge_text(merge: Any, index: int, files: TokenizerFiles) -> str:
    if isinstance(merge, str):
        left, space, right = merge.partition(" ")
        if left and space and right:
            return merge
    elif (
        isinstance(merge, list)
        and len(merge) == 2
        and all(isinstance(part, str) and part for part in merge)
    ):
        return " ".join(part.replace(" ", _SPACE_IN_MERGE) for part in merge)
    raise files.problem(
        f"merge number {index} ({merge!r}) is not a pair of tokens; the file is damaged."
    )


def _base_vocab(model: dict[str, Any], files: TokenizerFiles) -> dict[int, str]:
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise files.problem("the BPE model has no vocabulary.")
    by_id: dict[int, str] = {}
    for text, token_id in vocab.items():
        if not isinstance(token_id, int) or token_id < 0:
            raise files.problem(f"token {text!r} has an invalid id {token_id!r}.")
        if token_id in by_id:
            raise files.problem(f"tokens {by_id[token_id]!r} and {text!r} share id {token_id}.")
        by_id[token_id] = text
    return by_id


def load_byte_level_bpe(files: TokenizerFiles, vocab_size: int | None) -> TokenizerSpec:
    tokenizer_json = files.tokenizer_json or {}
    try:
        pre = recognise_pre_tokenizer(tokenizer_json, files.tokenizer_config)
    except (PipelineError, UnknownPreTokenizer) as exc:
        raise files.problem(f"{exc}.") from exc

    model = tokenizer_json["model"]
    base = _base_vocab(model, files)
    added = {**config_added_tokens(files), **tokenizer_json_added_tokens(files)}
    size = vocabulary_size(max([*base, *added]), vocab_size, str(files.folder))

    table = VocabularyTable.padded(size)
    for token_id, text in base.items():
        table.set(token_id, text, 0.0, TokenType.NORMAL)
    table.apply_added(added.values())

    merges = model.get("merges") or []
    if not isinstance(merges, list):
        raise files.problem("the BPE merges are not a list.")
    merge_texts = tuple(_merge_text(merge, i, files) for i, merge in enumerate(merges))

    return table.freeze(
        files, added.values(), model=MODEL_BYTE_LEVEL_BPE, pre=pre.name, merges=merge_texts
    )
