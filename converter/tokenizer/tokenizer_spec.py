"""The converted tokenizer: everything llama.cpp needs, ready to write into a GGUF."""

from __future__ import annotations

from dataclasses import dataclass

import gguf

#: ``tokenizer.ggml.model`` values we write.
MODEL_BYTE_LEVEL_BPE = "gpt2"
MODEL_SENTENCEPIECE = "llama"
#: ``tokenizer.ggml.pre`` for SentencePiece vocabularies (they have no pre-tokenizer).
PRE_DEFAULT = "default"

#: Converter padding: ids below the model's vocab_size that the tokenizer does not define.
PAD_SCORE = -10000.0


def padding_token(token_id: int) -> str:
    """The name llama.cpp's converter gives an id the tokenizer leaves empty."""
    return f"[PAD{token_id}]"


@dataclass(frozen=True)
class TokenizerSpec:
    """A tokenizer converted for llama.cpp, independent of the files it came from.

    ``tokens``/``scores``/``token_types`` are indexed by token id. ``scores`` is ``None`` for
    byte-level BPE (llama.cpp ranks merges instead) and ``merges`` is ``None`` for SentencePiece
    (llama.cpp ranks pieces by score instead).
    """

    model: str
    pre: str
    tokens: tuple[str, ...]
    scores: tuple[float, ...] | None
    token_types: tuple[int, ...]
    merges: tuple[str, ...] | None
    bos_id: int | None = None
    eos_id: int | None = None
    unk_id: int | None = None
    pad_id: int | None = None
    add_bos: bool | None = None
    add_eos: bool | None = None
    chat_template: str | None = None
    eot_id: int | None = None
    eom_id: int | None = None
    #: ``False`` for SentencePiece models that do not prepend a space (Gemma); ``None`` keeps
    #: llama.cpp's default for the model type.
    add_space_prefix: bool | None = None

    def __post_init__(self) -> None:
        n = len(self.tokens)
        if len(self.token_types) != n or (self.scores is not None and len(self.scores) != n):
            raise ValueError("tokens, scores and token_types must have one entry per token id")
        for name in ("bos_id", "eos_id", "unk_id", "pad_id", "eot_id", "eom_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < n:
                raise ValueError(f"{name}={value} is outside the vocabulary of {n} tokens")

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def token_id(self, text: str) -> int | None:
        """The first id whose token is ``text`` (for tests and callers that need one lookup)."""
        try:
            return self.tokens.index(text)
        except ValueError:
            return None

    def write_to(self, writer: gguf.GGUFWriter) -> None:
        """Add every ``tokenizer.ggml.*`` key and the chat template to ``writer``."""
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        if self.scores is not None:
            writer.add_token_scores(self.scores)
        writer.add_token_types(self.token_types)
        if self.merges is not None:
            writer.add_token_merges(self.merges)
        ids = (
            (self.bos_id, writer.add_bos_token_id),
            (self.eos_id, writer.add_eos_token_id),
            (self.unk_id, writer.add_unk_token_id),
            (self.pad_id, writer.add_pad_token_id),
            (self.eot_id, writer.add_eot_token_id),
            (self.eom_id, writer.add_eom_token_id),
        )
        for token_id, add in ids:
            if token_id is not None:
                add(token_id)
        if self.add_bos is not None:
            writer.add_add_bos_token(self.add_bos)
        if self.add_eos is not None:
            writer.add_add_eos_token(self.add_eos)
        if self.add_space_prefix is not None:
            writer.add_add_space_prefix(self.add_space_prefix)
        if self.chat_template is not None:
            writer.add_chat_template(self.chat_template)
