"""Library scanning, grouping, importing and deleting GGUF files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from converter.errors import Cancelled, OutputError
from converter.hub.download import verified_record_path
from converter.progress import CancelToken, run_job
from desktop.engine.measure.results_cache import SIDECAR_SUFFIX
from desktop.services.library import (
    FactsCache,
    NotAGgufFile,
    delete_gguf,
    import_gguf,
    read_facts,
    scan,
)
from desktop.services.model_catalog import model_catalog
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

SHAPE = TinyModelShape(n_layer=1, n_embd=256, n_ff=256, n_vocab=320)


@pytest.fixture(scope="module")
def tiny_f16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("src") / "tiny-F16.gguf", SHAPE)


def test_facts_come_from_the_header(tiny_f16: Path) -> None:
    facts = read_facts(tiny_f16)
    assert facts.error == ""
    assert facts.level == "F16"
    assert facts.base_model == "tiny random test model"
    assert facts.architecture == "llama"
    assert facts.block_count == 1
    assert facts.context_length == SHAPE.n_ctx_train
    # F16 matrices and F32 norms: a little above 16 bits per weight
    assert 16.0 < facts.bits_per_weight < 16.5


def test_damaged_and_foreign_files_are_listed_with_a_reason(tmp_path: Path, tiny_f16: Path) -> None:
    (tmp_path / "notes-Q4_K_M.gguf").write_text("not a model")
    write_tiny_gguf(tmp_path / "cut.gguf", SHAPE, truncate_data=True)
    (tmp_path / ".hidden.gguf.123.partial").write_bytes(tiny_f16.read_bytes())
    groups = scan([tmp_path])
    facts = {f.path.name: f for g in groups for f in g.files}
    assert set(facts) == {"notes-Q4_K_M.gguf", "cut.gguf"}
    assert "not a GGUF" in facts["notes-Q4_K_M.gguf"].error
    assert facts["notes-Q4_K_M.gguf"].level == "Q4_K_M"  # from the name, as a fallback
    assert "incomplete" in facts["cut.gguf"].error


def test_groups_by_base_model_in_ladder_order(tmp_path: Path, tiny_f16: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(tiny_f16, a / "tiny-F16.gguf")
    shutil.copy(tiny_f16, b / "copy-F16.gguf")
    (b / "other-Q8_0.gguf").write_bytes(b"GGUF\x03\x00")  # damaged header, named base "other"
    cache = FactsCache()
    groups = scan([a, b, a], cache)
    assert [g.base_model for g in groups] == ["other", "tiny random test model"]
    assert len(groups[1].files) == 2
    assert scan([a, b], cache) == groups  # from the cache, same answer


def test_import_copies_atomically_and_refuses_non_gguf(tmp_path: Path, tiny_f16: Path) -> None:
    library = tmp_path / "library"
    events = []
    target = run_job(import_gguf(tiny_f16, library), events.append)
    assert target == library / tiny_f16.name
    assert target.read_bytes() == tiny_f16.read_bytes()
    assert events[-1].done == events[-1].total == tiny_f16.stat().st_size
    with pytest.raises(OutputError, match="already has"):
        run_job(import_gguf(tiny_f16, library))
    text = tmp_path / "x.gguf"
    text.write_text("hello")
    with pytest.raises(NotAGgufFile):
        run_job(import_gguf(text, library))


def test_cancelled_import_leaves_nothing(tmp_path: Path, tiny_f16: Path) -> None:
    library = tmp_path / "library"
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        run_job(import_gguf(tiny_f16, library, cancel=cancel))
    assert list(library.iterdir()) == []


def test_delete_only_inside_the_library(tmp_path: Path, tiny_f16: Path) -> None:
    library = tmp_path / "library"
    target = run_job(import_gguf(tiny_f16, library))
    with pytest.raises(OutputError, match="not in a library folder"):
        delete_gguf(tiny_f16, [library])
    assert tiny_f16.exists()
    figures = target.with_name(target.name + SIDECAR_SUFFIX)  # its measurements
    figures.write_text("{}", encoding="utf-8")
    delete_gguf(target, [library])
    assert list(library.iterdir()) == []  # the model and its saved figures


def test_model_catalog_names_models_by_file_name_first_one_wins(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a" / "x.gguf", tmp_path / "b" / "x.gguf", tmp_path / "y.gguf"
    assert model_catalog([first, second, str(other)]) == {"x": first, "y": other}


@pytest.fixture
def split_model(tmp_path: Path) -> Path:
    """A model in three parts outside the library; its first part."""
    (tmp_path / "outside").mkdir()
    return write_tiny_gguf(tmp_path / "outside" / "big-F16.gguf", SHAPE, split_max_tensors=4)


def test_a_split_model_is_one_entry_named_without_its_numbering(
    tmp_path: Path, split_model: Path
) -> None:
    library = tmp_path / "library"
    first = run_job(import_gguf(split_model, library))
    parts = sorted(library.iterdir())
    assert len(parts) == 3 and first == parts[0] == library / split_model.name
    ((entry,),) = [group.files for group in scan([library])]
    assert entry.path == first and entry.level == "F16" and entry.error == ""
    assert entry.size_bytes == sum(part.stat().st_size for part in parts)
    assert model_catalog([first]) == {"big-F16": first}
    (first.parent / (first.name + SIDECAR_SUFFIX)).write_text("{}", encoding="utf-8")
    for part in parts:  # as a download from the hub leaves them
        verified_record_path(part).write_text("{}", encoding="utf-8")
    delete_gguf(first, [library])
    assert list(library.iterdir()) == []  # every part, its download record, the saved figures


def test_importing_a_later_part_or_cancelling_leaves_no_part(
    tmp_path: Path, split_model: Path
) -> None:
    library = tmp_path / "library"
    second = split_model.with_name(split_model.name.replace("00001-of", "00002-of"))
    with pytest.raises(NotAGgufFile, match=f"choose its first part, {split_model.name}"):
        run_job(import_gguf(second, library))
    cancel = CancelToken()
    progress = []

    def cancel_in_the_second_part(update: object) -> None:
        progress.append(update)
        if "00002-of" in str(getattr(update, "message", "")):
            cancel.cancel()

    with pytest.raises(Cancelled):
        run_job(import_gguf(split_model, library, cancel=cancel), cancel_in_the_second_part)
    assert list(library.iterdir()) == []  # the first part, copied whole, went too
