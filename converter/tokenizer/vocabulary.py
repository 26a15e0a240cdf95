"""Lay tokens out by id: one entry per id up to the model's vocab_size, padding the gaps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gguf import TokenType

from converter.errors import TokenizerError
from converter.tokenizer.added_tokens import AddedToken
from converter.tokenizer.files import TokenizerFiles
from converter.tokenizer.special_tokens import read_special_tokens
from converter.tokenizer.tokenizer_spec import PAD_SCORE, TokenizerSpec, padding_token


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

    def freeze(
        self,
        files: TokenizerFiles,
        added: Iterable[AddedToken],
        *,
        model: str,
        pre: str,
        merges: tuple[str, ...] | None,
        add_space_prefix: bool | None = None,
    ) -> TokenizerSpec:
        """The finished spec, with the special tokens that ``files`` name.

        Every tokenizer type resolves its special tokens the same way, against the final
        token list and the added tokens. Scores are kept only without ``merges``: byte-level
        BPE ranks merges, SentencePiece ranks pieces by score.
        """
        specials = read_special_tokens(files, self.tokens, {t.gguf_text: t.id for t in added})
        return TokenizerSpec(
            model=model,
            pre=pre,
            tokens=tuple(self.tokens),
            scores=tuple(self.scores) if merges is None else None,
            token_types=tuple(self.types),
            merges=merges,
            bos_id=specials.ids.get("bos"),
            eos_id=specials.ids.get("eos"),
            unk_id=specials.ids.get("unk"),
            pad_id=specials.ids.get("pad"),
            add_bos=specials.add_bos,
            add_eos=specials.add_eos,
            chat_template=specials.chat_template,
            eot_id=specials.ids.get("eot"),
            eom_id=specials.ids.get("eom"),
            add_space_prefix=add_space_prefix,
        )


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
