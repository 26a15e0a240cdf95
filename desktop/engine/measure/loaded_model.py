"""Opening a model for a measurement, inside the child process that measures it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from converter.errors import ModelLoadError


def open_for_measuring(path: Path, **llama_kwargs: Any) -> Any:
    """``open_llama`` (extra buffer types off) with load failures turned into ModelLoadError."""
    from desktop.engine.llama_loading import open_llama

    try:
        return open_llama(path, **llama_kwargs)
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(
            f"llama.cpp could not load {Path(path).name} ({exc}). The file may be damaged, "
            "incomplete, or of an architecture this llama.cpp does not support."
        ) from exc


def bos_token(llm: Any) -> int | None:
    """The BOS token id when the vocabulary asks for BOS in front of a text, else None."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    return llm.token_bos() if llama_cpp.llama_vocab_get_add_bos(vocab) else None
