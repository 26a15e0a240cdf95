"""Quantize a GGUF with llama.cpp itself, in a child: the reference for size predictions."""

from __future__ import annotations

from pathlib import Path

from converter.child_process import Emit, run_in_child
from converter.levels import QuantLevel


def _quantize_child(
    emit: Emit, source: str, target: str, ftype: str | int, pure: bool = False
) -> int:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = (
        ftype if isinstance(ftype, int) else getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    )
    params.pure = pure
    params.nthread = 2
    return int(llama_cpp.llama_model_quantize(source.encode(), target.encode(), params))


def quantize_with_llama_cpp(source: Path, target: Path, level: QuantLevel) -> Path:
    """Write ``target`` as llama.cpp's quantizer does for ``level``; raise if it fails."""
    status = run_in_child(
        _quantize_child, str(source), str(target), level.ftype, what=f"Quantizing to {level.name}"
    )
    if status != 0 or not target.exists():
        raise RuntimeError(f"llama.cpp could not quantize {source.name} to {level.name}")
    return target


def quantize_pure_with_llama_cpp(source: Path, target: Path, ftype: int) -> Path:
    """Write ``target`` with every matrix in the type of llama.cpp's file type ``ftype`` (as
    ``llama-quantize --pure`` does); raise if it fails."""
    status = run_in_child(
        _quantize_child, str(source), str(target), ftype, True, what="Quantizing (pure)"
    )
    if status != 0 or not target.exists():
        raise RuntimeError(f"llama.cpp could not quantize {source.name} to file type {ftype}")
    return target
