"""Downloads through the real hub client against a local fake hub: resume, verify, pause."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from converter.errors import Cancelled, NotEnoughDiskSpace
from converter.hub.download import (
    RetryPolicy,
    discard_partial,
    download_file,
    partial_download_path,
    verified_record_path,
)
from converter.hub.fetch import download_gguf
from converter.hub.hub_client import repo_details
from converter.hub.hub_errors import DownloadCorrupted, DownloadPaused, HubAccessDenied, HubOffline
from converter.hub.transfer import DownloadProgress
from converter.progress import CancelToken, Job, Progress, run_job
from tests.support.hub_server import FakeHub, FakeRepo, serve

FAST_RETRY = RetryPolicy(attempts=3, first_wait_s=0.05, max_wait_s=0.1)
WEIGHTS = os.urandom(700_000)
README = b"# tiny\nA small test repo.\n"
GGUF_NAME = "tiny-Q4_K_M.gguf"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    repo = FakeRepo("org/tiny-GGUF", {GGUF_NAME: WEIGHTS, "README.md": README}, tags=("gguf",))
    hub = serve(monkeypatch, repo)
    yield hub
    hub.stop()


def _events(job: Job[Path]) -> tuple[Path, list[Progress]]:
    events: list[Progress] = []
    return run_job(job, events.append), events


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_download_reports_bytes_and_verifies(hub: FakeHub, tmp_path: Path) -> None:
    path, events = _events(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    assert path == tmp_path / GGUF_NAME
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(WEIGHTS).digest()
    assert all(isinstance(e, DownloadProgress) and e.unit == "bytes" for e in events)
    assert events[-1].done == events[-1].total == len(WEIGHTS)
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert _leftovers(tmp_path) == [f".{GGUF_NAME}.verified.json", GGUF_NAME]


def test_small_file_is_checked_against_its_git_blob_id(hub: FakeHub, tmp_path: Path) -> None:
    path, _ = _events(download_file("org/tiny-GGUF", "README.md", tmp_path))
    assert path.read_bytes() == README
    hub.corrupt.add("README.md")
    with pytest.raises(DownloadCorrupted, match="corrupted"):
        run_job(download_file("org/tiny-GGUF", "README.md", tmp_path / "again"))
    assert _leftovers(tmp_path / "again") == []


def test_dropped_connection_resumes_with_a_range_request(hub: FakeHub, tmp_path: Path) -> None:
    hub.drop_once[GGUF_NAME] = 300_000
    path, events = _events(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path, retry=FAST_RETRY))
    assert path.read_bytes() == WEIGHTS
    assert any("retrying" in e.message for e in events)
    ranges = hub.ranges_for(GGUF_NAME)
    resumed = [r for r in ranges if r]
    assert resumed and int(resumed[-1].split("=")[1].rstrip("-")) >= 300_000 - 64 * 1024


def test_corrupted_file_is_rejected_and_nothing_is_kept(hub: FakeHub, tmp_path: Path) -> None:
    hub.corrupt.add(GGUF_NAME)
    with pytest.raises(DownloadCorrupted, match=r"tiny-Q4_K_M\.gguf.*deleted"):
        run_job(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    assert _leftovers(tmp_path) == []


def test_disk_space_is_checked_before_any_byte(hub: FakeHub, tmp_path: Path) -> None:
    hub.claimed_sizes[GGUF_NAME] = 1 << 60  # an exabyte: more than any test disk
    with pytest.raises(NotEnoughDiskSpace, match=r"tiny-Q4_K_M\.gguf"):
        run_job(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    assert hub.ranges_for(GGUF_NAME) == []
    assert not (tmp_path / GGUF_NAME).exists()


def test_pause_keeps_the_part_and_a_new_call_resumes(hub: FakeHub, tmp_path: Path) -> None:
    hub.chunk_delay_s = 0.01
    pause = CancelToken()
    seen: list[Progress] = []

    def on_progress(event: Progress) -> None:
        seen.append(event)
        if event.done > 100_000:
            pause.cancel()

    job = download_file("org/tiny-GGUF", GGUF_NAME, tmp_path, pause=pause)
    with pytest.raises(DownloadPaused, match="start it again"):
        run_job(job, on_progress)
    partial = partial_download_path(tmp_path / GGUF_NAME)
    kept = partial.stat().st_size
    assert 100_000 < kept < len(WEIGHTS)
    assert not (tmp_path / GGUF_NAME).exists()

    hub.chunk_delay_s = 0.0
    path, events = _events(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    assert path.read_bytes() == WEIGHTS
    assert hub.ranges_for(GGUF_NAME)[-1] == f"bytes={kept}-"
    assert events[0].done == kept  # progress starts where the pause left it
    assert _leftovers(tmp_path) == [f".{GGUF_NAME}.verified.json", GGUF_NAME]


def test_discard_partial_removes_a_paused_download_and_keeps_finished_files(
    hub: FakeHub, tmp_path: Path
) -> None:
    hub.chunk_delay_s = 0.01
    pause = CancelToken()

    def on_progress(event: Progress) -> None:
        if event.done > 50_000:
            pause.cancel()

    run_job(download_file("org/tiny-GGUF", "README.md", tmp_path))
    with pytest.raises(DownloadPaused):
        run_job(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path, pause=pause), on_progress)
    # README.md and its verified checksum, the partial file and its resume record
    assert len(_leftovers(tmp_path)) == 4
    discard_partial(tmp_path, f"subfolder/{GGUF_NAME}")  # repo paths land by their name
    discard_partial(tmp_path, "README.md")  # finished: nothing to discard
    assert _leftovers(tmp_path) == [".README.md.verified.json", "README.md"]
    hub.chunk_delay_s = 0.0
    run_job(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    assert hub.ranges_for(GGUF_NAME)[-1] is None  # started afresh, nothing was resumed


def test_changed_file_on_the_hub_restarts_instead_of_mixing(hub: FakeHub, tmp_path: Path) -> None:
    partial = partial_download_path(tmp_path / GGUF_NAME)
    partial.write_bytes(b"x" * 1000)
    partial.with_name(partial.name + ".json").write_text('{"etag": "old", "size": 5}')
    path, _ = _events(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    assert path.read_bytes() == WEIGHTS
    assert hub.ranges_for(GGUF_NAME)[-1] is None


def test_cancel_removes_the_partial_file(hub: FakeHub, tmp_path: Path) -> None:
    hub.chunk_delay_s = 0.01
    cancel = CancelToken()

    def on_progress(event: Progress) -> None:
        if event.done > 50_000:
            cancel.cancel()

    with pytest.raises(Cancelled):
        run_job(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path, cancel=cancel), on_progress)
    assert _leftovers(tmp_path) == []


def test_gated_repo_needs_a_token_with_access(hub: FakeHub, tmp_path: Path) -> None:
    hub.add(FakeRepo("meta/gated", {"model-Q8_0.gguf": WEIGHTS[:1000]}, gated=True))
    with pytest.raises(HubAccessDenied, match="accept its licence") as no_token:
        run_job(download_file("meta/gated", "model-Q8_0.gguf", tmp_path))
    assert "token" in str(no_token.value)
    secret = "hf_NotAcceptedTokenForTesting123"
    with pytest.raises(HubAccessDenied, match="no access") as wrong:
        run_job(download_file("meta/gated", "model-Q8_0.gguf", tmp_path, token=secret))
    assert secret not in str(wrong.value)
    good = "hf_AcceptedTokenForTesting456"
    hub.accepted_tokens.add(good)
    path = run_job(download_file("meta/gated", "model-Q8_0.gguf", tmp_path, token=good))
    assert path.read_bytes() == WEIGHTS[:1000]
    assert any(r.authorization == f"Bearer {good}" for r in hub.requests)


def test_stalled_server_gives_up_with_a_resumable_message(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import converter.hub.download as download_module

    monkeypatch.setattr(download_module, "READ_TIMEOUT_S", 0.3)
    hub.stall_at[GGUF_NAME] = 200_000  # the server stops sending but keeps the line open
    job = download_file("org/tiny-GGUF", GGUF_NAME, tmp_path, retry=FAST_RETRY)
    started = time.monotonic()
    with pytest.raises(HubOffline, match=r"kept failing.*run it again to resume"):
        run_job(job)
    assert time.monotonic() - started < 10
    assert len(hub.ranges_for(GGUF_NAME)) == 1 + FAST_RETRY.attempts
    assert partial_download_path(tmp_path / GGUF_NAME).stat().st_size == 200_000

    del hub.stall_at[GGUF_NAME]
    path = run_job(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    assert path.read_bytes() == WEIGHTS


def test_split_model_downloads_every_shard_with_one_byte_count(
    hub: FakeHub, tmp_path: Path
) -> None:
    shards = {
        "big-Q8_0-00001-of-00002.gguf": WEIGHTS[:400_000],
        "big-Q8_0-00002-of-00002.gguf": WEIGHTS[400_000:],
    }
    hub.add(FakeRepo("org/split-GGUF", shards))
    (choice,) = repo_details("org/split-GGUF").gguf
    path, events = _events(download_gguf("org/split-GGUF", choice, tmp_path))
    assert path == tmp_path / "big-Q8_0-00001-of-00002.gguf"
    assert b"".join((tmp_path / name).read_bytes() for name in choice.files) == WEIGHTS
    assert {e.total for e in events} == {len(WEIGHTS)}
    assert events[-1].done == len(WEIGHTS)


def test_same_size_new_version_on_the_hub_is_downloaded_again(hub: FakeHub, tmp_path: Path) -> None:
    run_job(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    # The uploader replaces the quantization with a new one of exactly the same size.
    new_weights = os.urandom(len(WEIGHTS))
    hub.repos["org/tiny-GGUF"].files[GGUF_NAME] = new_weights

    path, events = _events(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))

    assert path.read_bytes() == new_weights
    assert hub.ranges_for(GGUF_NAME) == [None, None]  # fetched whole, twice
    assert any("differs from the hub's version" in e.message for e in events)
    record = json.loads(verified_record_path(path).read_text())
    assert record["etag"] == hashlib.sha256(new_weights).hexdigest()


def test_a_verified_file_is_not_fetched_or_hashed_again(hub: FakeHub, tmp_path: Path) -> None:
    run_job(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    _, events = _events(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    assert [e.message for e in events] == [f"{GGUF_NAME} is already here"]
    assert len(hub.ranges_for(GGUF_NAME)) == 1


def test_a_file_without_a_record_is_hashed_once_and_kept_if_current(
    hub: FakeHub, tmp_path: Path
) -> None:
    (tmp_path / GGUF_NAME).write_bytes(WEIGHTS)  # copied in by hand, or from an older version
    _, events = _events(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    assert [e.message for e in events] == [f"checking {GGUF_NAME}", f"{GGUF_NAME} is already here"]
    assert hub.ranges_for(GGUF_NAME) == []
    assert verified_record_path(tmp_path / GGUF_NAME).is_file()

    # Edited on disk after it was verified: hashed again, found different, downloaded again.
    (tmp_path / GGUF_NAME).write_bytes(bytes(len(WEIGHTS)))
    path, _ = _events(download_file("org/tiny-GGUF", GGUF_NAME, tmp_path))
    assert path.read_bytes() == WEIGHTS
    assert hub.ranges_for(GGUF_NAME) == [None]
