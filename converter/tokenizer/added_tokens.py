"""Added tokens (special and user-defined) from tokenizer.json and tokenizer_config.json."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gguf import TokenType

from converter.errors import TokenizerError
from converter.tokenizer.files import TOKENIZER_CONFIG, TokenizerFiles
from converter.tokenizer.special_tokens import looks_like_control_token

#: SentencePiece's word-boundary mark; llama.cpp wants real spaces in user-defined tokens.
SPM_SPACE = "\u2581"


@dataclass(frozen=True, slots=True)
class AddedToken:
    id: int
    content: str
    special: bool

    @property
    def token_type(self) -> TokenType:
        if self.special or looks_like_control_token(self.content):
            return TokenType.CONTROL
        return TokenType.USER_DEFINED

    @property
    def gguf_text(self) -> str:
        """The text llama.cpp matches: user-defined tokens are matched before normalization."""
        if self.token_type == TokenType.USER_DEFINED:
            return self.content.replace(SPM_SPACE, " ")
        return self.content


def _parse(entry: Any, token_id: Any, where: str) -> AddedToken:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("content"), str):
        raise TokenizerError(f"{where}: an added token has no text: {entry!r}.")
    try:
        number = int(token_id)
    except (TypeError, ValueError):
        raise TokenizerError(
            f"{where}: added token {entry['content']!r} has no valid id."
        ) from None
    if number < 0:
        raise TokenizerError(f"{where}: added token {entry['content']!r} has a negative id.")
    return AddedToken(number, entry["content"], bool(entry.get("special", False)))


def tokenizer_json_added_tokens(files: TokenizerFiles) -> dict[int, AddedToken]:
    """tokenizer.json's ``added_tokens`` list, by id."""
    entries = (files.tokenizer_json or {}).get("added_tokens") or []
    if not isinstance(entries, list):
        raise files.problem("'added_tokens' is not a list.")
    parsed = (
        _parse(entry, (entry or {}).get("id"), str(files.folder / "tokenizer.json"))
        for entry in entries
    )
    return {token.id: token for token in parsed}


def config_added_tokens(files: TokenizerFiles) -> dict[int, AddedToken]:
    """tokenizer_config.json's ``added_tokens_decoder`` (``{"id": {...}}``), by id."""
    decoder = files.tokenizer_config.get("added_tokens_decoder") or {}
    if not isinstance(decoder, dict):
        raise TokenizerError(
            f"{files.folder / TOKENIZER_CONFIG}: 'added_tokens_decoder' is not an object."
        )
    where = str(files.folder / TOKENIZER_CONFIG)
    parsed = (_parse(entry, token_id, where) for token_id, entry in decoder.items())
    return {token.id: token for token in parsed}


def legacy_added_tokens(files: TokenizerFiles) -> dict[int, AddedToken]:
    """``added_tokens.json`` (``{"text": id}``) of older repositories; all user-defined."""
    where = str(files.folder / "added_tokens.json")
    parsed = (
        _parse({"content": text}, token_id, where)
        for text, token_id in files.added_tokens_json.items()
    )
    return {token.id: token for token in parsed}
