"""Helpers for the tokenizer tests: vocab-only GGUFs and llama.cpp run in a child process."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

from converter.child_process import run_in_child
from converter.tokenizer import TokenizerSpec
from tests.conftest import TOKENIZER_FIXTURES

FIXTURE_NAMES = ("llama-bpe", "gpt-2", "llama-spm", "phi-3")

#: Texts where tokenizers most often disagree, beyond the fixtures' cases: leading, trailing
#: and repeated spaces, tabs, newlines, emoji, CJK, and text that spells special tokens.
TRICKY_TEXTS = (
    " leading space",
    "trailing space ",
    "   three leading, two  inside,   three trailing   ",
    "\ttab\tseparated\t\tcolumns",
    "line one\nline two\n\n\nafter blank lines\r\nwindows line",
    " \n \t mixed \t\n ",
    "emoji 🙂👍🏽 and a family 👨‍👩‍👧 and flags 🇫🇷",
    "中文测试：你好，世界。日本語のテキスト、한국어 텍스트",
    "code:\n    def f(x):\n\treturn x  # two spaces",
    "<s> </s> <bos> <eos> <|endoftext|> <start_of_turn>user <end_of_turn>",
    "[INST] text that spells special tokens [/INST]",
)


def reference(name: str) -> dict[str, Any]:
    return json.loads((TOKENIZER_FIXTURES / name / "gguf_reference.json").read_text("utf-8"))


def cases(name: str) -> list[dict[str, Any]]:
    return json.loads((TOKENIZER_FIXTURES / name / "cases.json").read_text("utf-8"))


def copy_fixture(name: str, destination: Path, *, without: tuple[str, ...] = ()) -> Path:
    """A writable copy of a fixture folder, leaving out the files named in ``without``."""
    folder = destination / name
    shutil.copytree(
        TOKENIZER_FIXTURES / name,
        folder,
        ignore=lambda _dir, names: [n for n in names if n in without],
    )
    return folder


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text("utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")


def write_vocab_only_gguf(spec: TokenizerSpec, path: Path) -> Path:
    """The smallest GGUF llama.cpp opens with ``vocab_only``: an architecture and a vocabulary.

    With ``vocab_only`` llama.cpp reads no hyperparameters and no tensors, so
    ``general.architecture`` plus the ``tokenizer.*`` keys are enough.
    """
    writer = gguf.GGUFWriter(str(path), "llama")
    spec.write_to(writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@dataclass(frozen=True)
class LlamaVocabReport:
    """What llama.cpp made of a vocab-only GGUF."""

    ids: list[list[int]]
    special_ids: list[list[int]]
    bos: int
    eos: int
    with_special_tokens_added: list[int]
    n_vocab: int
    metadata: dict[str, str]


def _tokenize_in_child(
    _emit: Callable[[Any], None], path: str, texts: list[str], special_texts: list[str]
) -> LlamaVocabReport:
    from desktop.engine.llama_loading import open_llama

    llm = open_llama(path, vocab_only=True, n_threads=1)
    try:
        return LlamaVocabReport(
            ids=[
                llm.tokenize(text.encode("utf-8"), add_bos=False, special=False) for text in texts
            ],
            special_ids=[
                llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
                for text in special_texts
            ],
            bos=llm.token_bos(),
            eos=llm.token_eos(),
            with_special_tokens_added=llm.tokenize(b"hi", add_bos=True, special=False),
            n_vocab=llm.n_vocab(),
            metadata=dict(llm.metadata),
        )
    finally:
        llm.close()


def llama_cpp_report(
    gguf_path: Path, texts: list[str], special_texts: list[str] = ()
) -> LlamaVocabReport:
    """Load the GGUF with the real llama.cpp in a child process and tokenize ``texts``."""
    return run_in_child(
        _tokenize_in_child,
        str(gguf_path),
        list(texts),
        list(special_texts),
        what="Tokenizing with llama.cpp",
    )


def _tokenize_many_in_child(
    _emit: Callable[[Any], None], jobs: list[tuple[str, list[str]]]
) -> list[list[list[int]]]:
    from desktop.engine.llama_loading import open_llama

    results = []
    for path, texts in jobs:
        llm = open_llama(path, vocab_only=True, n_threads=1)
        try:
            results.append(
                [llm.tokenize(text.encode("utf-8"), add_bos=False, special=False) for text in texts]
            )
        finally:
            llm.close()
    return results


def llama_cpp_tokenize_many(jobs: list[tuple[Path, list[str]]]) -> list[list[list[int]]]:
    """Tokenize ``texts`` with each GGUF, all in one child process (one start-up)."""
    return run_in_child(
        _tokenize_many_in_child,
        [(str(path), list(texts)) for path, texts in jobs],
        what="Tokenizing with llama.cpp",
    )
