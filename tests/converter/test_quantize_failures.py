"""Quantization refuses bad requests up front, and fails, crashes or cancels without leftovers."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import psutil
import pytest
from gguf import GGUFReader

from converter.errors import (
    Cancelled,
    NotEnoughDiskSpace,
    OutputError,
    QuantdeskError,
    QuantizationError,
    WorkerCrashed,
)
from converter.progress import CancelToken, Progress, run_job
from converter.quantize import quantize_gguf, quantize_ladder
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

TINY = TinyModelShape(n_vocab=512)
#: Large enough (about 55 MB F16) that quantizing it on one thread takes a second or two, so a
#: cancel lands while llama.cpp is writing.
SLOW = TinyModelShape(n_layer=8, n_embd=512, n_ff=1536, n_vocab=2048)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("pristine") / "tiny-F16.gguf", TINY)


@pytest.fixture
def source(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model in an otherwise empty folder."""
    copy = tmp_path / pristine.name
    copy.write_bytes(pristine.read_bytes())
    return copy


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _folder_holds_only(path: Path) -> bool:
    return [p.name for p in path.parent.iterdir()] == [path.name]


def _quantize_works(source: Path) -> None:
    """The caller's process is fine after a failure: a normal quantization still succeeds."""
    written = run_job(
        quantize_gguf(source, "Q8_0", out_path=source.with_name("ok.gguf"), threads=2)
    )
    assert written.path.stat().st_size == written.size_bytes > 0
    written.path.unlink()


def test_output_equal_to_input_is_refused(source: Path) -> None:
    before = _digest(source)
    with pytest.raises(OutputError, match="input model itself"):
        quantize_gguf(source, "Q4_K_M", out_path=source)
    link = source.with_name("link.gguf")
    link.symlink_to(source)
    with pytest.raises(OutputError, match="input model itself"):
        quantize_gguf(source, "Q4_K_M", out_path=link)
    with pytest.raises(OutputError, match="input model itself"):
        quantize_gguf(link, "Q4_K_M", out_path=source)
    assert _digest(source) == before
    assert sorted(p.name for p in source.parent.iterdir()) == ["link.gguf", source.name]


@pytest.mark.parametrize("name", ["Q9_K", "F16", "IQ9_X", ""])
def test_unknown_or_non_ladder_level_lists_the_valid_ones(source: Path, name: str) -> None:
    with pytest.raises(QuantizationError, match=r"Choose from: Q2_K, .*Q4_K_M.*Q8_0"):
        quantize_gguf(source, name)
    with pytest.raises(QuantizationError, match="Choose from"):
        quantize_ladder(source, ["Q4_K_M", name])
    assert _folder_holds_only(source)


def test_an_already_quantized_input_is_refused(source: Path) -> None:
    quantized = run_job(quantize_gguf(source, "Q8_0", threads=2)).path
    with pytest.raises(QuantizationError, match=r"already quantized .*F16"):
        quantize_gguf(quantized, "Q4_K_M")
    assert not quantized.with_name("tiny-Q4_K_M.gguf").exists()


def test_weights_llama_cpp_rejects_give_its_reason_and_no_file(source: Path) -> None:
    """NaN weights pass the header checks; llama.cpp's own validation refuses them."""
    first = GGUFReader(source).tensors[0]
    with source.open("r+b") as stream:
        stream.seek(first.data_offset)
        stream.write(b"\xff" * first.n_bytes)  # F16 NaN
    with pytest.raises(QuantizationError, match=f"'{first.name}' has invalid data"):
        run_job(quantize_gguf(source, "Q4_K_M", threads=2))
    assert _folder_holds_only(source)
    _quantize_works(write_tiny_gguf(source.with_name("fresh-F16.gguf"), TINY))


def test_a_truncated_file_is_refused_before_llama_cpp_runs(tmp_path: Path) -> None:
    source = write_tiny_gguf(tmp_path / "cut-F16.gguf", TINY, truncate_data=True)
    with pytest.raises(QuantizationError, match="incomplete"):
        quantize_gguf(source, "Q4_K_M")
    assert _folder_holds_only(source)


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "notes-F16.gguf"
    source.write_bytes(b"this is not a model\n" * 100)
    with pytest.raises(QuantdeskError, match="not a GGUF file"):
        quantize_gguf(source, "Q4_K_M")
    assert _folder_holds_only(source)


def _workers() -> list[psutil.Process]:
    """Live spawned worker processes of this test process."""
    found = []
    for child in psutil.Process().children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:  # exited meanwhile (zombies included)
            continue
    return found


def _kill_the_worker_when_it_starts(killed: list[int]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for worker in _workers():
            worker.kill()
            killed.append(worker.pid)
            return
        time.sleep(0.002)


def test_a_killed_worker_is_reported_and_leaves_nothing(source: Path) -> None:
    job = quantize_gguf(source, "Q4_K_M", threads=1)
    killed: list[int] = []
    killer = threading.Thread(target=_kill_the_worker_when_it_starts, args=(killed,))
    killer.start()
    try:
        with pytest.raises(WorkerCrashed, match="crashed \\(SIGKILL\\)"):
            run_job(job)
    finally:
        killer.join()
    assert killed
    assert _folder_holds_only(source)
    _quantize_works(source)


def test_cancel_midway_stops_the_worker_within_a_second_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    source = write_tiny_gguf(tmp_path / "slow-F16.gguf", SLOW)
    cancel = CancelToken()
    seen: list[Progress] = []
    cancelled_at: list[float] = []

    def cancel_after_a_few_tensors(event: Progress) -> None:
        seen.append(event)
        if event.done == 3:
            cancelled_at.append(time.monotonic())
            cancel.cancel()

    with pytest.raises(Cancelled):
        run_job(
            quantize_gguf(source, "Q4_K_M", threads=1, cancel=cancel), cancel_after_a_few_tensors
        )
    assert time.monotonic() - cancelled_at[0] < 1.0
    assert seen[-1].done < seen[-1].total  # it really was midway
    assert _folder_holds_only(source)
    assert not _workers()


def test_closing_the_job_early_stops_the_worker_and_leaves_nothing(source: Path) -> None:
    job = quantize_gguf(source, "Q4_K_M", threads=1)
    for event in job:
        if event.done == 1:
            break
    job.close()
    assert _folder_holds_only(source)


def test_not_enough_disk_space_is_refused_before_writing(source: Path) -> None:
    impossible = 2**62
    with pytest.raises(NotEnoughDiskSpace, match=r"tiny-Q4_K_M\.gguf"):
        quantize_gguf(source, "Q4_K_M", reserve_bytes=impossible)
    with pytest.raises(NotEnoughDiskSpace):
        quantize_ladder(source, ["Q2_K", "Q8_0"], reserve_bytes=impossible)
    assert _folder_holds_only(source)


def test_an_output_folder_that_cannot_be_created_is_refused(source: Path) -> None:
    with pytest.raises(OutputError, match="Cannot create the output folder"):
        quantize_gguf(source, "Q4_K_M", out_path=source / "inside-a-file" / "x.gguf")
    with pytest.raises(OutputError, match="Cannot create the output folder"):
        quantize_ladder(source, ["Q4_K_M"], out_dir=source / "inside-a-file")
    assert _folder_holds_only(source)


def test_a_ladder_cancelled_in_its_second_level_keeps_only_the_finished_first(
    source: Path,
) -> None:
    cancel = CancelToken()

    def cancel_in_second_level(event: Progress) -> None:
        if event.stage == "quantize Q4_0" and event.done > event.total // 2:
            cancel.cancel()

    job = quantize_ladder(source, ["Q8_0", "Q4_0"], threads=2, cancel=cancel)
    with pytest.raises(Cancelled, match="to Q4_0"):
        run_job(job, cancel_in_second_level)
    assert sorted(p.name for p in source.parent.iterdir()) == [source.name, "tiny-Q8_0.gguf"]
    assert not _workers()
