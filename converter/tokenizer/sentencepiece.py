"""SentencePiece BPE vocabularies → ``tokenizer.ggml.model = "llama"``.

From ``tokenizer.model`` the pieces, scores and types are taken as they are. A repository
that ships only a SentencePiece-style ``tokenizer.json`` (BPE with byte fallback) has merges
instead of scores; llama.cpp's SentencePiece tokenizer merges the adjacent pair whose result
has the highest score, so each token gets the score ``-rank`` of the first merge producing
it, which makes llama.cpp merge in the same order as the Hugging Face tokenizer.
"""

from __future__ import annotations

import re
from typing import Any

from gguf import TokenType

from converter.errors import TokenizerError
from converter.tokenizer.added_tokens import (
    SPM_SPACE,
    AddedToken,
    config_added_tokens,
    legacy_added_tokens,
    tokenizer_json_added_tokens,
)
from converter.tokenizer.files import TokenizerFiles
from converter.tokenizer.sentencepiece_model import ModelType, PieceType, read_sentencepiece_model
from converter.tokenizer.tokenizer_spec import MODEL_SENTENCEPIECE, PRE_DEFAULT, TokenizerSpec
from converter.tokenizer.vocabulary import VocabularyTable, vocabulary_size

#: llama.cpp's converter gives added tokens this score.
ADDED_TOKEN_SCORE = -1000.0
_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def _spec(
    table: VocabularyTable,
    files: TokenizerFiles,
    added: dict[int, AddedToken],
    add_space_prefix: bool,
) -> TokenizerSpec:
    """``add_space_prefix`` False is written out; True keeps llama.cpp's default for 'llama'."""
    return table.freeze(
        files,
        added.values(),
        model=MODEL_SENTENCEPIECE,
        pre=PRE_DEFAULT,
        merges=None,
        add_space_prefix=None if add_space_prefix else False,
    )


def _added_tokens(
    files: TokenizerFiles, base_size: int, settled: frozenset[int]
) -> dict[int, AddedToken]:
    """Tokens beyond the base vocabulary, then tokenizer_config's re-typing of any id.

    Like llama.cpp's converter, only ``added_tokens_decoder`` re-types ids inside the base
    vocabulary; tokenizer.json's list contributes the ids the base vocabulary lacks. A
    tokenizer_config.json without ``added_tokens_decoder`` (``transformers`` 5.x writes none)
    leaves tokenizer.json's list as the only record of which tokens are matched whole, so then
    that list re-types ids inside the base vocabulary too (Gemma's ``<s>``, ``[multimodal]``),
    except the ``settled`` ids the base vocabulary already marks as control or unknown tokens,
    which keep their type and score as llama.cpp's converter leaves them.
    """
    json_added = tokenizer_json_added_tokens(files)
    beyond = {
        token_id: token
        for source in (legacy_added_tokens(files), json_added)
        for token_id, token in source.items()
        if token_id >= base_size
    }
    retyped = config_added_tokens(files) or {
        token_id: token for token_id, token in json_added.items() if token_id not in settled
    }
    return {**beyond, **retyped}


def load_sentencepiece_model(files: TokenizerFiles, vocab_size: int | None) -> TokenizerSpec:
    path = files.sentencepiece_model_path
    assert path is not None
    model = read_sentencepiece_model(path)
    if model.model_type != ModelType.BPE:
        raise TokenizerError(
            f"{path} is a SentencePiece {model.model_type.name.lower()} model; llama.cpp's "
            "'llama' tokenizer reproduces only SentencePiece BPE models."
        )
    settled = frozenset(
        i for i, p in enumerate(model.pieces) if p.type in (PieceType.UNKNOWN, PieceType.CONTROL)
    )
    added = _added_tokens(files, len(model.pieces), settled)
    size = vocabulary_size(max([len(model.pieces) - 1, *added]), vocab_size, str(path))
    table = VocabularyTable.padded(size)
    for token_id, piece in enumerate(model.pieces):
        table.set(token_id, piece.text, piece.score, piece.type)
    table.apply_added(added.values(), score=ADDED_TOKEN_SCORE)
    return _spec(table, files, added, model.add_dummy_prefix)


def is_sentencepiece_json(tokenizer_json: dict[str, Any]) -> bool:
    """A BPE tokenizer.json with byte fallback: the Llama/Mistral SentencePiece export."""
    model = tokenizer_json.get("model") or {}
    return model.get("type") == "BPE" and bool(model.get("byte_fallback", False))


def _steps(part: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(part, dict):
        return []
    if part.get("type") == "Sequence":
        return [step for child in part.get(key, []) for step in _steps(child, key)]
    return [part]


def _is_space_replace(step: dict[str, Any]) -> bool:
    return (
        step.get("type") == "Replace"
        and step.get("pattern") == {"String": " "}
        and step.get("content") == SPM_SPACE
    )


def _is_space_prepend(step: dict[str, Any]) -> bool:
    return step.get("type") == "Prepend" and step.get("prepend") == SPM_SPACE


def _is_space_split(step: dict[str, Any]) -> bool:
    """A Split on the plain space: it does nothing once the normalizer replaced every space."""
    return (
        step.get("type") == "Split"
        and step.get("pattern") == {"String": " "}
        and not step.get("invert", False)
    )


def _describe_step(step: dict[str, Any]) -> str:
    kind = step.get("type", "untyped")
    if kind in ("Replace", "Split"):
        pattern = step.get("pattern") or {}
        text = next(iter(pattern.values()), "?") if isinstance(pattern, dict) else "?"
        if kind == "Replace":
            return f"Replace step ({text!r} → {step.get('content')!r})"
        return f"Split step (on {text!r}, {step.get('behavior', 'Isolated')})"
    if kind == "Prepend":
        return f"Prepend step ({step.get('prepend')!r})"
    if kind == "Metaspace" and step.get("split", True):
        return "Metaspace step that splits the text at every space"
    return f"{kind} step"


def _json_adds_space_prefix(files: TokenizerFiles) -> bool:
    """Whether the text gets a leading ``▁``, read from the normalizer or Metaspace step.

    Two layouts say what llama.cpp's SentencePiece tokenizer does: a normalizer that replaces
    spaces with ``▁`` (and may prepend one), in either order, or a lone non-splitting Metaspace
    pre-tokenizer. A Split on the plain space after that normalizer is accepted too (recent
    ``transformers`` writes one for Gemma): no space is left for it to split on.
    """
    tokenizer_json = files.tokenizer_json or {}
    normalizers = _steps(tokenizer_json.get("normalizer"), "normalizers")
    pre_steps = _steps(tokenizer_json.get("pre_tokenizer"), "pretokenizers")
    if any(_is_space_replace(step) for step in normalizers):
        unsupported = [
            step for step in normalizers if not (_is_space_replace(step) or _is_space_prepend(step))
        ] + [step for step in pre_steps if not _is_space_split(step)]
        if not unsupported:
            return any(_is_space_prepend(step) for step in normalizers)
    elif not normalizers and len(pre_steps) == 1 and pre_steps[0].get("type") == "Metaspace":
        metaspace = pre_steps[0]
        if metaspace.get("replacement") == SPM_SPACE and metaspace.get("split") is False:
            scheme = metaspace.get("prepend_scheme")
            if scheme is None:
                return bool(metaspace.get("add_prefix_space", True))
            return scheme != "never"
        unsupported = [metaspace]
    else:
        unsupported = normalizers + pre_steps
    if unsupported:
        what = f"has a {_describe_step(unsupported[0])} that llama.cpp's SentencePiece tokenizer"
        what += " does not reproduce"
    else:
        what = "never turns spaces into '▁' as llama.cpp's SentencePiece tokenizer does"
    raise files.problem(
        f"its SentencePiece-style tokenizer {what}, so the model cannot be converted "
        "faithfully from this file; add the model's tokenizer.model file to convert it."
    )


def _merge_scores(model: dict[str, Any], files: TokenizerFiles) -> dict[str, float]:
    """``-rank`` of the first merge that produces each token."""
    scores: dict[str, float] = {}
    for rank, merge in enumerate(model.get("merges") or []):
        if isinstance(merge, str):
            left, space, right = merge.partition(" ")
            parts = (left, right) if left and space and right else None
        else:
            parts = tuple(merge) if isinstance(merge, list) and len(merge) == 2 else None
        if parts is None or not all(isinstance(part, str) for part in parts):
            raise files.problem(f"merge number {rank} ({merge!r}) is not a pair of tokens.")
        scores.setdefault(parts[0] + parts[1], -float(rank))
    return scores


def load_sentencepiece_json(files: TokenizerFiles, vocab_size: int | None) -> TokenizerSpec:
    tokenizer_json = files.tokenizer_json or {}
    add_space_prefix = _json_adds_space_prefix(files)
    model = tokenizer_json["model"]
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise files.problem("the BPE model has no vocabulary.")
    if any(not isinstance(token_id, int) or token_id < 0 for token_id in vocab.values()):
        raise files.problem("some tokens have invalid ids.")
    if len(set(vocab.values())) != len(vocab):
        raise files.problem("some tokens share an id.")
    merge_scores = _merge_scores(model, files)
    unreachable = -float(len(merge_scores) + 1)  # below every merge: never merged first
    unk = model.get("unk_token")
    json_added = tokenizer_json_added_tokens(files)
    added = _added_tokens(files, max(vocab.values()) + 1, frozenset({vocab.get(unk, -1)}))

    size = vocabulary_size(max([*vocab.values(), *added]), vocab_size, str(files.folder))
    table = VocabularyTable.padded(size)
    for text, token_id in vocab.items():
        if text == unk:
            token_type = TokenType.UNKNOWN
        elif _BYTE_PIECE.fullmatch(text):
            token_type = TokenType.BYTE
        elif token_id in json_added and json_added[token_id].special:
            token_type = TokenType.CONTROL
        else:
            token_type = TokenType.NORMAL
        table.set(token_id, text, merge_scores.get(text, unreachable), token_type)
    table.apply_added(added.values(), score=ADDED_TOKEN_SCORE)
    return _spec(table, files, added, add_space_prefix)
