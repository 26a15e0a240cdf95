"""Does ``quantdesk convert`` write what llama.cpp's convert_hf_to_gguf.py writes, per family?

For every supported family a tiny checkpoint is built as transformers saves it (the tests'
factory, tests/support/checkpoints.py), converted to F16 by both tools, and the two GGUFs
compared in full: every tensor's name, type, shape and bytes, and every metadata key and value. The
reference is the converter in the installed llama-cpp-python's source distribution, run with
the gguf-py from the same distribution. Keys Quantdesk writes differently on purpose are
listed with the reason (``DELIBERATE``) and not counted. Prints a Markdown table.

Needs ``sentencepiece`` (the reference reads tokenizer.model with it):
``pip install sentencepiece``.

Run: ``python -m benchmarks.converter_parity [--families llama,phi3] [--llama-cpp-src DIR]
[--workdir DIR]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.convert_bench import llama_cpp_tree

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Metadata keys Quantdesk writes differently on purpose, and why. A key named here without
#: an architecture prefix stands for it under every architecture (``*.vocab_size``).
DELIBERATE: dict[str, str] = {
    "general.name": "the reference capitalises the folder's name; Quantdesk keeps the name "
    "the user chose",
    "general.basename": "derived from the name (see general.name)",
    "general.size_label": "the reference's guess from the parameter count; not written",
    "general.finetune": "the reference's guess from the folder's name; not written",
    "general.version": "the reference's guess from the folder's name; not written",
    "general.quantization_version": "written by the reference even for F16; Quantdesk "
    "writes it where there is quantized data",
    "GGUF.kv_count": "follows from the other keys",
    "tokenizer.ggml.add_sep_token": "the reference writes false; llama.cpp reads a missing "
    "key as false",
    "*.vocab_size": "Quantdesk writes it for every architecture (the reference for some); "
    "llama.cpp takes the same number from the token list",
    "*.attention.key_length": "Quantdesk writes the head size for every architecture; "
    "llama.cpp derives the same value when it is missing",
    "*.attention.value_length": "as attention.key_length",
    "*.rope.dimension_count": "as attention.key_length",
    "tokenizer.ggml.eot_token_id": "Quantdesk records the end-of-turn token it finds in the "
    "tokenizer (Phi-3's <|end|>, Llama 3's <|eot_id|>) so chat stops there",
    "*.attention.sliding_window_pattern": "Quantdesk writes the checkpoint's layer_types; "
    "without it llama.cpp assumes Google's pattern (every sixth layer global for Gemma 3, every "
    "second for Gemma 2), which a checkpoint need not follow (the test models' Gemma 3 does not)",
    "gemma2.rope.freq_base": "the reference leaves it out for Gemma 2; Quantdesk writes the "
    "config's value (10000, llama.cpp's default, for Google's models)",
    "general.architecture": "Mistral Small 3.1/3.2 (Mistral3ForConditionalGeneration): the "
    "reference now writes llama.cpp's mistral3 architecture, Quantdesk its llama architecture "
    "(the same tensors and hyperparameters, loadable by older llama.cpp builds too); the "
    "hyperparameters are compared under one prefix",
    "tokenizer.ggml.add_space_prefix": "the reference writes false for Gemma and Granite "
    "whatever the tokenizer; Quantdesk writes it for SentencePiece tokenizers only, read from "
    "the tokenizer (Google's say false; the test models' Gemma gets Llama 2's, which prepends a "
    "space); llama.cpp's byte-level BPE ignores it",
}


#: Tensors Quantdesk writes differently on purpose (name after ``blk.N.``), and why.
DELIBERATE_TENSORS: dict[str, str] = {
    "ffn_gate_inp_shexp.weight": "Qwen2 MoE's shared-expert gate, a (1, hidden) matrix, is "
    "written as the vector llama.cpp reads it as, so llama-quantize leaves it in F32 at every "
    "level; the reference's (1, hidden) matrix gets quantized like any matrix (Q2_K at Q2_K)",
}


def _deliberate(key: str) -> bool:
    return key in DELIBERATE or f"*.{key.partition('.')[2]}" in DELIBERATE


def _renamed(key: str, old_prefix: str, new_prefix: str) -> str:
    prefix, dot, rest = key.partition(".")
    return f"{new_prefix}.{rest}" if prefix == old_prefix and dot else key


@dataclass(frozen=True, slots=True)
class Case:
    family: str
    build: Callable[[Path], Path]


def _cases() -> list[Case]:
    sys.path.insert(0, str(REPO_ROOT))
    from tests.converter.test_convert_gemma3_multimodal import build_multimodal
    from tests.converter.test_convert_mistral3 import build as build_mistral3
    from tests.support.checkpoints import ARCHITECTURES, build_checkpoint

    llama3_rope = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }
    # Gemma 3 scales queries by query_pre_attn_scalar ** -0.5, llama.cpp by head_dim ** -0.5
    # (27B aside); Quantdesk folds the difference into attn_q_norm, the reference ignores it.
    # Google's 270M-12B have query_pre_attn_scalar == head_dim; so do these checkpoints.
    same_scale = {"gemma3": {"query_pre_attn_scalar": 64}, "gemma2": {"query_pre_attn_scalar": 64}}
    cases = [
        Case(arch, lambda f, a=arch: build_checkpoint(a, f, **same_scale.get(a, {})))
        for arch in ARCHITECTURES
    ]
    cases += [
        Case(
            "llama3-rope-scaling",
            lambda f: build_checkpoint(
                "llama", f, tokenizer="llama-bpe", rope_scaling=llama3_rope, rope_theta=500000.0
            ),
        ),
        Case("gemma3-multimodal", lambda f: build_multimodal(f, query_pre_attn_scalar=64)),
        Case("mistral3-multimodal", build_mistral3),
        Case("llava", lambda f: build_mistral3(f, "Llava")),
    ]
    return cases


def _fields(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    import gguf

    reader = gguf.GGUFReader(path)
    metadata = {name: field.contents() for name, field in reader.fields.items()}
    tensors = {t.name: t for t in reader.tensors}
    return metadata, tensors


def compare(ours: Path, theirs: Path) -> dict[str, list[str]]:
    """Differences by kind: tensors (layout or data), metadata keys, deliberate ones."""
    mine, my_tensors = _fields(ours)
    other, their_tensors = _fields(theirs)
    deliberate_tensors: list[str] = []
    tensors = []
    for name in sorted(my_tensors.keys() | their_tensors.keys()):
        a, b = my_tensors.get(name), their_tensors.get(name)
        if name.split(".", 2)[-1] in DELIBERATE_TENSORS and a is not None and b is not None:
            same_data = np.array_equal(np.asarray(a.data).ravel(), np.asarray(b.data).ravel())
            (deliberate_tensors if same_data else tensors).append(f"{name} (shape)")
        elif a is None or b is None:
            tensors.append(f"{name} (only in {'theirs' if a is None else 'ours'})")
        elif (a.tensor_type, list(a.shape)) != (b.tensor_type, list(b.shape)):
            tensors.append(f"{name} ({a.tensor_type.name}{list(a.shape)} vs "
                           f"{b.tensor_type.name}{list(b.shape)})")  # fmt: skip
        elif not np.array_equal(
            np.asarray(a.data).view(np.uint8), np.asarray(b.data).view(np.uint8)
        ):
            tensors.append(f"{name} (data)")
    keys, deliberate = [], []
    # Another architecture name (general.architecture is then listed): compare the values of
    # its hyperparameters under our prefix.
    ours_arch, their_arch = mine["general.architecture"], other["general.architecture"]
    if their_arch != ours_arch:
        other = {_renamed(key, their_arch, ours_arch): value for key, value in other.items()}
    for key in sorted(mine.keys() | other.keys()):
        if mine.get(key) != other.get(key):
            (deliberate if _deliberate(key) else keys).append(key)
    return {"tensors": tensors, "keys": keys, "deliberate": deliberate_tensors + deliberate}


def reference_convert(tree: Path, folder: Path, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree / "gguf-py"), "NO_LOCAL_GGUF": ""}
    subprocess.run(
        [sys.executable, str(tree / "convert_hf_to_gguf.py"), str(folder),
         "--outfile", str(out), "--outtype", "f16"],
        check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def quantdesk_convert(folder: Path, out_dir: Path) -> Path:
    from converter.convert import convert_checkpoint
    from converter.progress import run_job

    return run_job(convert_checkpoint(folder, out_dir, outtype="f16")).path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", help="comma-separated subset of the families")
    parser.add_argument("--llama-cpp-src", type=Path, help="llama-cpp-python sdist or llama.cpp")
    parser.add_argument("--workdir", type=Path, help="keep the checkpoints and GGUFs here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        work = args.workdir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        tree = llama_cpp_tree(args.llama_cpp_src, work)
        wanted = set(args.families.split(",")) if args.families else None
        rows = []
        for case in _cases():
            if wanted is not None and case.family not in wanted:
                continue
            folder = case.build(work / case.family)
            ours = quantdesk_convert(folder, work / "quantdesk")
            theirs = work / "llama.cpp" / f"{case.family}-F16.gguf"
            theirs.parent.mkdir(exist_ok=True)
            try:
                reference_convert(tree, folder, theirs)
            except subprocess.CalledProcessError as exc:
                last = exc.stderr.decode(errors="replace").strip().splitlines()[-1:]
                rows.append((case.family, "reference failed", "", "", " ".join(last)))
                continue
            diff = compare(ours, theirs)
            n_tensors = len(_fields(ours)[1])
            rows.append((
                case.family, str(n_tensors), ", ".join(diff["tensors"]) or "0",
                ", ".join(diff["keys"]) or "0", ", ".join(diff["deliberate"]) or "-",
            ))  # fmt: skip

    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")  # fmt: skip
    print("| family | tensors | differing tensors | differing metadata keys | deliberate |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    for key, why in {**DELIBERATE, **DELIBERATE_TENSORS}.items():
        print(f"- `{key}`: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
