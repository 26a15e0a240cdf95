"""Quantizing a tiny F16 model to every ladder level with the real llama.cpp."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import llama_cpp
import numpy as np
import pytest
from gguf import GGUFReader

from converter.child_process import run_in_child
from converter.levels import LEVELS
from converter.progress import Progress, run_job
from converter.quantize import default_output_path, quantize_ladder, resolve_level
from converter.quantize_plan import plan_quantization, read_source
from converter.written import WrittenFile
from desktop import cli
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

#: Hidden 256, FFN 512, 2 layers, 512 tokens: every matrix row is a multiple of the K-quant
#: block (256), so llama.cpp uses the level's own types without fallbacks.
TINY = TinyModelShape(n_vocab=512)
PROMPT = b"abc"
GENERATED_TOKENS = 4
#: Floor of the correlation between a level's next-token logits and the F16 model's (both run
#: by llama.cpp). Measured on this model: 0.89 (Q2_K) rising to 0.9999 (Q8_0); floors leave room.
MIN_LOGIT_CORRELATION = MappingProxyType(
    {
        "Q2_K": 0.8, "Q3_K_S": 0.8, "Q3_K_M": 0.95, "Q3_K_L": 0.95, "Q4_0": 0.95,
        "Q4_K_S": 0.97, "Q4_K_M": 0.97, "Q5_K_S": 0.99, "Q5_K_M": 0.99, "Q6_K": 0.995,
        "Q8_0": 0.999,
    }
)  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("ladder") / "tiny-F16.gguf", TINY)


@pytest.fixture(scope="module")
def ladder(source: Path) -> tuple[list[WrittenFile], list[Progress]]:
    """Every level once, in ladder order, with the progress events of the whole run."""
    events: list[Progress] = []
    written = run_job(quantize_ladder(source, [lv.name for lv in LEVELS], threads=2), events.append)
    return written, events


def _file_type(path: Path) -> int:
    field = GGUFReader(path).get_field("general.file_type")
    assert field is not None, f"{path.name} has no general.file_type"
    return int(field.contents())


def test_every_level_is_written_with_its_file_type(source: Path, ladder) -> None:
    written, _ = ladder
    assert [file.level for file in written] == [lv.name for lv in LEVELS]
    source_tensor_count = len(GGUFReader(source).tensors)
    for file, lv in zip(written, LEVELS, strict=True):
        assert file.path == source.with_name(f"tiny-{lv.name}.gguf")
        assert file.size_bytes == file.path.stat().st_size
        assert file.tensor_count == source_tensor_count
        assert file.architecture == "llama"
        assert _file_type(file.path) == getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{lv.ftype}")
    leftovers = sorted(p.name for p in source.parent.iterdir() if p.name.startswith("."))
    assert leftovers == []


def test_matrices_are_quantized_and_vectors_kept(ladder) -> None:
    written, _ = ladder
    for file in written:
        for tensor in GGUFReader(file.path).tensors:
            if tensor.name.endswith("norm.weight"):
                assert tensor.tensor_type.name == "F32", (file.level, tensor.name)
            else:
                assert tensor.tensor_type.name.startswith("Q"), (file.level, tensor.name)


def test_sizes_fall_strictly_along_the_ladder(source: Path, ladder) -> None:
    """For this model shape every step down the ladder is smaller, Q4_0 < Q4_K_S included.

    (Sizes depend on the shapes only, not on the random weights, so this is deterministic;
    on real models Q4_0 and Q4_K_S are within a percent of each other.)
    """
    written, _ = ladder
    sizes = [file.size_bytes for file in written]
    assert sizes == sorted(sizes)
    assert len(set(sizes)) == len(sizes)
    assert sizes[-1] < source.stat().st_size / 1.8  # Q8_0: about half of F16


def _generate_with_each(emit: Callable[[Any], None], paths: list[str]) -> list[dict[str, Any]]:
    """In a child: load each model and generate greedily; report tokens and last logits."""
    from desktop.engine.llama_loading import open_llama

    results = []
    for path in paths:
        llm = open_llama(path, n_ctx=64, n_threads=1, n_threads_batch=1, seed=1, logits_all=True)
        prompt = llm.tokenize(PROMPT, add_bos=True)
        llm.eval(prompt)
        first_logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        tokens = []
        for _ in range(GENERATED_TOKENS):
            token = int(llm.sample(temp=0.0))
            tokens.append(token)
            llm.eval([token])
        results.append({"tokens": tokens, "logits": first_logits, "n_vocab": llm.n_vocab()})
        llm.close()
    return results


def test_every_level_loads_and_generates_close_to_the_source(source: Path, ladder) -> None:
    written, _ = ladder
    paths = [str(source)] + [str(file.path) for file in written]
    reference, *quantized = run_in_child(_generate_with_each, paths, what="Generating")
    for file, result in zip(written, quantized, strict=True):
        assert len(result["tokens"]) == GENERATED_TOKENS
        assert all(0 <= t < result["n_vocab"] for t in result["tokens"])
        assert np.all(np.isfinite(result["logits"])), file.level
        correlation = np.corrcoef(reference["logits"], result["logits"])[0, 1]
        assert correlation > MIN_LOGIT_CORRELATION[file.level], (file.level, correlation)


def _names_in_data_order(path: Path) -> list[str]:
    """Tensor names in the order their data lies in the file, as llama.cpp wrote it."""
    return [t.name for t in sorted(GGUFReader(path).tensors, key=lambda t: t.data_offset)]


def test_progress_names_each_tensor_as_llama_cpp_writes_it(ladder) -> None:
    written, events = ladder
    per_level = written[0].tensor_count
    assert [e.done for e in events] == [
        level_index * per_level + done
        for level_index in range(len(LEVELS))
        for done in range(per_level + 1)
    ]
    assert all(e.total == per_level * len(LEVELS) and e.unit == "tensors" for e in events)
    assert events[-1].done == events[-1].total
    for level_index, file in enumerate(written):
        level_events = events[level_index * (per_level + 1) : (level_index + 1) * (per_level + 1)]
        assert {e.stage for e in level_events} == {f"quantize {file.level}"}
        assert [e.message for e in level_events[1:]] == _names_in_data_order(file.path)


def test_the_plan_knows_where_each_tensor_ends_in_the_output(source: Path, ladder) -> None:
    """Progress is exact: each tensor's predicted data end is where llama.cpp put it.

    Only the header's own size is estimated (the copied metadata plus the keys llama.cpp adds,
    rounded up to the alignment), so it may be one alignment step high.
    """
    written, _ = ladder
    model = read_source(source)
    for file in written:
        plan = plan_quantization(model, resolve_level(file.level))
        reader = GGUFReader(file.path)
        tensors = sorted(reader.tensors, key=lambda t: t.data_offset)
        data_start = reader.data_offset
        padded_ends = [
            -(-(t.data_offset - data_start + int(t.n_bytes)) // reader.alignment) * reader.alignment
            for t in tensors
        ]
        assert plan.names == tuple(t.name for t in tensors), file.level
        assert [end - plan.header_bytes for end in plan.data_ends] == padded_ends, file.level
        assert 0 <= plan.header_bytes - data_start <= reader.alignment, file.level
        assert 0 <= plan.predicted_bytes - file.size_bytes <= reader.alignment, file.level


@pytest.mark.parametrize(
    ("source_name", "expected"),
    [
        ("model-F16.gguf", "model-Q4_K_M.gguf"),
        ("Model-bf16.gguf", "Model-Q4_K_M.gguf"),
        ("m-7b-f32.gguf", "m-7b-Q4_K_M.gguf"),
        ("plain.gguf", "plain-Q4_K_M.gguf"),
        ("x-BF16-F16.gguf", "x-BF16-Q4_K_M.gguf"),
    ],
)
def test_default_output_name(source_name: str, expected: str, tmp_path: Path) -> None:
    level = resolve_level("q4_k_m")
    assert default_output_path(tmp_path / source_name, level) == tmp_path / expected
    assert (
        default_output_path(tmp_path / source_name, level, tmp_path / "out").parent
        == tmp_path / "out"
    )


def test_cli_writes_levels_and_prints_json(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    arguments = ["--level", "Q8_0,q4_0", "--out", str(out), "--threads", "2", "--json"]
    status = cli.main(["quantize", str(source), *arguments])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    reported = json.loads(captured.out)
    assert [entry["level"] for entry in reported] == ["Q8_0", "Q4_0"]  # in the order asked
    for entry in reported:
        path = Path(entry["path"])
        assert path.parent == out and path.stat().st_size == entry["size_bytes"]
        assert _file_type(path) == getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{entry['level']}")
    assert "quantize Q4_0" in captured.err


def test_cli_refuses_an_unknown_level(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["quantize", str(source), "--level", "Q4_K_M,Q9_X", "--out", str(tmp_path)])
    assert status == 1
    assert "Q9_X" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
