"""The worker's weights in huge pages on Linux: the real Gemma 3 270M read into memory that
the kernel backs with 2 MiB pages, generating the same text as a mapped file does; the files
that stay mapped; and the user's choice between the two."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from converter.huge_pages import huge_pages_offered
from desktop.engine.llama_loading import open_llama
from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings, loader
from tests.support.gemma_model import gemma_270m_fixture  # noqa: F401
from tests.support.gguf_factory import write_tiny_gguf

PROMPT = "The history of the harbor town begins with"


def _huge_page_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1]) * 1024
    return 0


def _maps_file(pid: int | None, model: Path) -> bool:
    """The process has ``model`` mapped (llama.cpp's mmap load), not read into memory."""
    return str(model) in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not huge_pages_offered(), reason="this kernel gives no transparent huge pages")
def test_worker_weights_sit_in_huge_pages_and_write_the_same_text(gemma_270m: Path) -> None:
    with InferenceWorker() as worker:
        worker.load(gemma_270m, LoadSettings(ctx_tokens=512, threads=2))
        assert worker.pid is not None
        # The 235 MiB of weights, not only the KV cache and compute buffers (a few MiB here).
        assert _huge_page_bytes(worker.pid) > 100 * 1024**2
        assert not _maps_file(worker.pid, gemma_270m)
        pieces: list[str] = []
        worker.complete(PROMPT, SamplingSettings.greedy(max_tokens=24), on_token=pieces.append)
    mapped = open_llama(gemma_270m, n_ctx=512, n_threads=2, use_mmap=True)
    try:
        expected = mapped.create_completion(PROMPT, max_tokens=24, temperature=0.0)
    finally:
        mapped.close()
    assert "".join(pieces) == expected["choices"][0]["text"]


def test_a_file_that_would_fill_the_memory_stays_mapped(
    gemma_270m: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "malloc_uses_huge_pages", lambda: True)
    size = gemma_270m.stat().st_size
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=size * 4))
    assert loader.maps_model_file(gemma_270m) is False
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=size))
    assert loader.maps_model_file(gemma_270m) is True
    monkeypatch.setattr(loader, "malloc_uses_huge_pages", lambda: False)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=size * 4))
    assert loader.maps_model_file(gemma_270m) is True


def test_the_users_choice_wins_unless_the_file_would_fill_the_memory(
    gemma_270m: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = gemma_270m.stat().st_size
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=size * 4))
    monkeypatch.setattr(loader, "malloc_uses_huge_pages", lambda: True)
    assert loader.maps_model_file(gemma_270m, read_in=False) is True
    monkeypatch.setattr(loader, "malloc_uses_huge_pages", lambda: False)  # as on a GPU build
    assert loader.maps_model_file(gemma_270m, read_in=True) is False
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=size))
    assert loader.maps_model_file(gemma_270m, read_in=True) is True


def test_a_worker_maps_or_reads_in_the_file_as_asked(tmp_path: Path) -> None:
    model = write_tiny_gguf(tmp_path / "tiny.gguf")
    with InferenceWorker() as worker:
        mapped = worker.load(model, LoadSettings(ctx_tokens=256, threads=1, read_weights_in=False))
        assert mapped.weights_mapped and _maps_file(worker.pid, model)
        read_in = worker.load(model, LoadSettings(ctx_tokens=256, threads=1, read_weights_in=True))
        assert not read_in.weights_mapped and not _maps_file(worker.pid, model)
        assert not any("stays mapped" in note for note in read_in.notes)
