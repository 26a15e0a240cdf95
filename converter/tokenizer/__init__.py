"""Convert a Hugging Face tokenizer to llama.cpp's GGUF vocabulary, exactly.

Use :func:`load_tokenizer` on a model folder and :meth:`TokenizerSpec.write_to` on a
``gguf.GGUFWriter``. Byte-level BPE tokenizers (Llama 3, GPT-2, Qwen, SmolLM …) come from
``tokenizer.json``; SentencePiece tokenizers (Llama 2, Mistral, Phi-3, Gemma) from
``tokenizer.model``, or from a SentencePiece-style ``tokenizer.json`` when that is all there
is. Anything that cannot be converted faithfully raises :class:`~converter.errors.TokenizerError`.
"""

from __future__ import annotations

from pathlib import Path

from converter.errors import TokenizerError
from converter.tokenizer.bpe import is_byte_level_bpe, load_byte_level_bpe
from converter.tokenizer.files import TOKENIZER_JSON, TOKENIZER_MODEL, TokenizerFiles
from converter.tokenizer.sentencepiece import (
    is_sentencepiece_json,
    load_sentencepiece_json,
    load_sentencepiece_model,
)
from converter.tokenizer.tokenizer_spec import TokenizerSpec


def load_tokenizer(folder: Path, *, vocab_size: int | None = None) -> TokenizerSpec:
    """Read the tokenizer in ``folder``; ``vocab_size`` is config.json's, to pad up to."""
    files = TokenizerFiles.read(Path(folder))
    tokenizer_json = files.tokenizer_json
    if tokenizer_json is not None and is_byte_level_bpe(tokenizer_json):
        return load_byte_level_bpe(files, vocab_size)
    if files.sentencepiece_model_path is not None:
        return load_sentencepiece_model(files, vocab_size)
    if tokenizer_json is not None and is_sentencepiece_json(tokenizer_json):
        return load_sentencepiece_json(files, vocab_size)
    if tokenizer_json is not None:
        model_type = (tokenizer_json.get("model") or {}).get("type", "unknown")
        raise files.problem(
            f"its {model_type} tokenizer is neither a byte-level BPE nor a SentencePiece-style "
            "BPE, the two kinds Quantdesk converts for llama.cpp."
        )
    raise TokenizerError(
        f"No tokenizer found in {folder}: expected {TOKENIZER_JSON} or {TOKENIZER_MODEL}. "
        "Download the model's tokenizer files into the same folder."
    )


__all__ = ["TokenizerError", "TokenizerSpec", "load_tokenizer"]
