"""Split GGUF models (``NAME-00001-of-00003.gguf`` …): the first part stands for the model."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from converter.gguf_header import GGUFHeaderError, read_gguf_header
from converter.gguf_shards import all_parts, model_name, shard_name
from converter.model_summary import read_gguf_summary
from converter.progress import run_job
from converter.quantize import quantize_gguf, resolve_level
from desktop.engine.worker import LoadSettings
from tests.support.checkpoints import llama_cpp_logits
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.server_helpers import running_server


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same model (same seed) as one file and split into three parts."""
    folder = tmp_path_factory.mktemp("shards")
    (folder / "single").mkdir()
    (folder / "split").mkdir()
    single = write_tiny_gguf(folder / "single" / "tiny-F16.gguf")
    first = write_tiny_gguf(folder / "split" / "tiny-F16.gguf", split_max_tensors=8)
    return single, first


def test_names_of_parts() -> None:
    shard = shard_name("org/Big-Q4_K_M-00002-of-00003.gguf")
    assert shard is not None and (shard.stem, shard.index, shard.count) == (
        "org/Big-Q4_K_M",
        2,
        3,
    )
    assert shard.part(1) == "org/Big-Q4_K_M-00001-of-00003.gguf"
    assert shard_name("Big-Q4_K_M.gguf") is None
    first = Path("/m/Big-Q4_K_M-00001-of-00002.gguf")
    assert all_parts(first) == (first, Path("/m/Big-Q4_K_M-00002-of-00002.gguf"))
    assert model_name(first) == "Big-Q4_K_M" and model_name(Path("/m/x.gguf")) == "x"


def test_llama_cpp_gives_the_split_model_the_same_logits(models: tuple[Path, Path]) -> None:
    """The parts are what llama.cpp itself opens as one model (the real loader)."""
    single, first = models
    tokens = [1, 20, 30, 40, 50]
    np.testing.assert_array_equal(llama_cpp_logits(first, tokens), llama_cpp_logits(single, tokens))


def test_the_first_part_stands_for_the_whole_model(models: tuple[Path, Path]) -> None:
    single, first = models
    whole, one = read_gguf_header(first), read_gguf_header(single)
    assert [t.name for t in whole.tensors] == [t.name for t in one.tensors]
    assert whole.file_bytes == sum(part.stat().st_size for part in all_parts(first))
    assert whole.is_complete and len(whole.later_parts) == 2
    assert read_gguf_summary(first).weight_bytes == read_gguf_summary(single).weight_bytes


def test_a_later_part_or_a_missing_one_is_refused_in_words(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    _single, first = models
    second = all_parts(first)[1]
    with pytest.raises(GGUFHeaderError, match=rf"part 2 of 3 .* open its first part, {first.name}"):
        read_gguf_header(second)
    alone = tmp_path / first.name
    shutil.copy(first, alone)
    with pytest.raises(GGUFHeaderError, match=rf"{second.name} is missing beside it"):
        read_gguf_header(alone)
    renamed = tmp_path / "renamed.gguf"
    shutil.copy(first, renamed)
    with pytest.raises(GGUFHeaderError, match="Give the parts their original names"):
        read_gguf_header(renamed)


def test_quantizing_a_split_model_writes_the_single_files_bytes(
    models: tuple[Path, Path],
) -> None:
    """llama.cpp reads every part and writes one file, named without the numbering."""
    single, first = models
    from_single = run_job(quantize_gguf(single, resolve_level("Q8_0")))
    from_split = run_job(quantize_gguf(first, resolve_level("Q8_0")))
    assert from_split.path == first.parent / "tiny-Q8_0.gguf"
    assert from_split.path.read_bytes() == from_single.path.read_bytes()


def test_the_local_api_serves_a_split_model_by_its_name(models: tuple[Path, Path]) -> None:
    """The id the API gives it is the name quantdesk list shows, not the first part's."""
    _single, first = models
    with running_server(first, LoadSettings(ctx_tokens=256, threads=1)) as server:
        assert server.model_id == "tiny-F16"
        with urllib.request.urlopen(f"{server.url}/models", timeout=30) as reply:
            assert [m["id"] for m in json.load(reply)["data"]] == ["tiny-F16"]
