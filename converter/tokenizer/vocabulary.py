"""Lay tokens out by id: one entry per id up to the model's vocab_size, padding the gaps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gguf import TokenType

from converter.errors import TokenizerError
from converter.tokenizer.added_tokens import AddedToken
from converter.tokenizer.spec import PAD_SCORE, padding_token


@dataclass
class VocabularyTable:
    """Mutable while a builder fills it; frozen into a TokenizerSpec afterwards."""

    tokens: list[str]
    scores: list[float]
    types: list[int]

    @classmethod
    def padded(cls, size: int) -> VocabularyTable:
        """Every id starts as converter padding (``[PADn]``, UNUSED), as llama.cpp's does."""
        return cls(
            tokens=[padding_token(i) for i in range(size)],
            scores=[PAD_SCORE] * size,
            types=[int(TokenType.UNUSED)] * size,
        )

    def set(self, token_id: int, text: str, score: float, token_type: int) -> None:
        self.tokens[token_id] = text
        self.scores[token_id] = score
        self.types[token_id] = int(token_type)

    def apply_added(self, added: Iterable[AddedToken], score: float | None = None) -> None:
        """Overwrite ids with added tokens (their text, type and, if given, score)."""
        for token in added:
            keep_score = self.scores[token.id] if score is None else score
            self.set(token.id, token.gguf_text, keep_score, token.token_type)


def vocabulary_size(highest_id: int, vocab_size: int | None, where: str) -> int:
    """The number of ids to write: config.json's vocab_size, or just enough for the tokenizer."""
    needed = highest_id + 1
    if vocab_size is None:
        return needed
    if vocab_size <= 0:
        raise TokenizerError(f"config.json gives an invalid vocab_size of {vocab_size}.")
    if needed > vocab_size:
        raise TokenizerError(
            f"The tokenizer in {where} uses ids up to {highest_id}, but config.json says the "
            f"model has only {vocab_size} token embeddings. The tokenizer does not belong to "
            "this model, or config.json is wrong."
        )
    return vocab_size
