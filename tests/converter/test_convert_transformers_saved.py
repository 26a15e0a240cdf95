"""Every supported family converts a checkpoint as transformers 5.x saves it, and tokenizes
like the Hugging Face tokenizer.

transformers 5.x writes ``tokenizer.json`` and ``tokenizer_config.json`` only (no
``tokenizer.model``, no ``added_tokens_decoder``), and rebuilds the pipeline from its own
tokenizer class: Llama-style SentencePiece tokenizers get a Metaspace pre-tokenizer
(``prepend_scheme="first"``) instead of the Prepend/Replace normalizer they were published with.

That Metaspace differs from the SentencePiece model the weights were trained with in one way:
it adds no '▁' to a text that already begins with a space (' Hello' becomes '▁Hello', where
SentencePiece makes '▁▁Hello'), nor after a special token. llama.cpp's SentencePiece tokenizer
always adds it, as SentencePiece does, and no GGUF setting changes that. So for those
tokenizers the converted model must tokenize like the original tokenizer on every text, and
like transformers 5.x on every text that neither begins with whitespace nor holds special-token
text; that the remaining ones are exactly the ones that differ is checked too.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from converter.convert import convert_checkpoint
from converter.progress import run_job
from tests.conftest import TOKENIZER_FIXTURES
from tests.converter.test_convert_gemma3_multimodal import build_multimodal
from tests.converter.test_convert_mistral3 import build as build_mistral3
from tests.support.checkpoints import ARCHITECTURES, build_checkpoint, default_tokenizer
from tests.support.tokenizer_helpers import TRICKY_TEXTS, cases, llama_cpp_report

#: Tokenizer files a checkpoint folder may hold; all are replaced by what transformers writes.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
)
_SENTENCEPIECE_FIXTURES = ("llama-spm", "phi-3")

#: family → (builder writing model and a fixture tokenizer into a folder, fixture name)
FAMILIES: dict[str, tuple[Callable[[Path], Path], str]] = {
    **{
        arch: (lambda folder, arch=arch: build_checkpoint(arch, folder), default_tokenizer(arch))
        for arch in ARCHITECTURES
    },
    "llama3-bpe": (
        lambda folder: build_checkpoint("llama", folder, tokenizer="llama-bpe"),
        "llama-bpe",
    ),
    "gemma3-multimodal": (build_multimodal, "llama-spm"),
    "mistral3-multimodal": (build_mistral3, "llama-spm"),
    "llava": (lambda folder: build_mistral3(folder, "Llava"), "llama-spm"),
}


def save_tokenizer_with_transformers(fixture: str, folder: Path) -> Any:
    """Replace the folder's tokenizer files by what transformers 5.x saves for ``fixture``, and
    return that tokenizer as transformers loads it back.

    It is loaded back from a folder of its own: beside a config.json transformers may pick the
    tokenizer class by model type (a qwen2 config gets Qwen2's pre-tokenizer, whatever
    tokenizer.json says), and these tests pair model types with other families' tokenizers.
    """
    import transformers

    for name in _TOKENIZER_FILES:
        (folder / name).unlink(missing_ok=True)
    saved = folder.parent / f"{folder.name}-tokenizer"
    transformers.AutoTokenizer.from_pretrained(TOKENIZER_FIXTURES / fixture).save_pretrained(saved)
    for path in saved.iterdir():
        shutil.copy2(path, folder / path.name)
    return transformers.AutoTokenizer.from_pretrained(saved)


def original_ids(fixture: str, texts: list[str]) -> list[list[int]]:
    """Ids from the fixture's tokenizer.json as published (the tokenizers library, directly)."""
    from tokenizers import Tokenizer

    original = Tokenizer.from_file(str(TOKENIZER_FIXTURES / fixture / "tokenizer.json"))
    return [original.encode(text, add_special_tokens=False).ids for text in texts]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_transformers_5_checkpoint_converts_and_tokenizes_alike(
    family: str, tmp_path: Path
) -> None:
    build, fixture = FAMILIES[family]
    folder = build(tmp_path / family)
    hf = save_tokenizer_with_transformers(fixture, folder)
    assert not (folder / "tokenizer.model").exists()

    written = run_job(convert_checkpoint(folder, tmp_path / "out"))
    texts = [case["text"] for case in cases(fixture)] + list(TRICKY_TEXTS)
    report = llama_cpp_report(written.path, [], texts)  # special-token text read as the token

    expected = [hf.encode(text, add_special_tokens=False) for text in texts]
    differing = [text for text, want, got in zip(texts, expected, report.special_ids, strict=True)
                 if want != got]  # fmt: skip
    if fixture in _SENTENCEPIECE_FIXTURES:
        originals = original_ids(fixture, texts)
        assert [t for t, want, got in zip(texts, originals, report.special_ids, strict=True)
                if want != got] == []  # fmt: skip
        metaspace_first = [
            text
            for text, original, ours in zip(texts, originals, expected, strict=True)
            if original != ours
        ]
        assert all(text[:1].isspace() or "<" in text for text in metaspace_first)
        assert differing == metaspace_first
    else:
        assert differing == []
