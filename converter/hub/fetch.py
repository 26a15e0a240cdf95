"""Downloading whole models: a GGUF choice (all its shards) or a checkpoint for conversion.

Both check the disk space for everything up front, pin every file to one commit so a repo
updated half-way through cannot mix versions, and report one byte count over all files.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from converter.errors import CheckpointError
from converter.hub.download import DEFAULT_RETRY, RetryPolicy, download_file
from converter.hub.hub_client import RepoDetails, repo_details
from converter.hub.hub_errors import HubOffline, UnsupportedRepo
from converter.hub.repo_kind import GgufChoice, RepoKind
from converter.hub.transfer import DownloadProgress
from converter.paths import data_dir
from converter.progress import CancelToken, Job, Progress, run_job
from converter.storage import ensure_free_space, ensure_writable_folder

#: Written into a checkpoint folder once every file is in: which repo and commit it holds.
COMPLETE_MARKER = ".quantdesk-hub.json"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def download_gguf(
    repo_id: str,
    choice: GgufChoice,
    dest_dir: Path,
    *,
    revision: str | None = None,
    token: str | None = None,
    cancel: CancelToken | None = None,
    pause: CancelToken | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Job[Path]:
    """Download every shard of ``choice``; returns the path llama.cpp opens (the first shard)."""
    total = choice.size_bytes or 0
    ensure_writable_folder(dest_dir)
    ensure_free_space(dest_dir, _missing_bytes(dest_dir, choice.files, total), choice.name)
    paths = yield from _download_all(
        repo_id, choice.files, dest_dir, total, revision, token, cancel, pause, retry
    )
    return paths[0]


def download_checkpoint(
    repo_id: str,
    dest_dir: Path,
    *,
    revision: str | None = None,
    token: str | None = None,
    cancel: CancelToken | None = None,
    pause: CancelToken | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Job[Path]:
    """Download what conversion needs from a safetensors repo into ``dest_dir``; return it."""
    details = repo_details(repo_id, revision=revision, token=token)
    _require_checkpoint(details)
    ensure_writable_folder(dest_dir)
    total = details.checkpoint_size
    needed = sum(
        details.file(name).size or 0
        for name in details.checkpoint
        if not _already_complete(dest_dir / name, details.file(name).size)
    )
    ensure_free_space(dest_dir, needed, f"the checkpoint of {repo_id}")
    yield from _download_all(
        repo_id, details.checkpoint, dest_dir, total, details.revision, token, cancel, pause, retry
    )
    marker = {"repo_id": details.repo_id, "revision": details.revision, "files": details.checkpoint}
    (dest_dir / COMPLETE_MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    return dest_dir


def hub_cache_dir(repo_id: str) -> Path:
    """Where ``quantdesk convert ORG/NAME`` keeps the checkpoint it downloads."""
    return data_dir() / "hub-cache" / repo_id.replace("/", "--")


def looks_like_repo_id(text: str) -> bool:
    return bool(_REPO_ID.match(text))


def source_name(source: str) -> str | None:
    """The model's name for a hub repo id (``ORG/NAME`` → ``NAME``); None for a local folder.

    A downloaded checkpoint sits in a cache folder named after the whole id, so files
    converted from it would be named ``org--name-F16.gguf``; this name keeps them ``name-…``,
    as if the user had converted their own folder called NAME.
    """
    source = source.strip()
    if Path(source).expanduser().is_dir() or not looks_like_repo_id(source):
        return None
    return source.rsplit("/", 1)[-1]


def resolve_source(
    source: str,
    *,
    cancel: CancelToken | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Path:
    """A conversion source as a local folder: a folder is itself; ``ORG/NAME`` is downloaded.

    A checkpoint downloaded before is reused when the hub cannot be reached.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if not looks_like_repo_id(source):
        raise CheckpointError(
            f"{source} is neither a folder nor a Hugging Face model name (ORGANISATION/NAME)."
        )
    cache = hub_cache_dir(source)
    try:
        return run_job(download_checkpoint(source, cache, cancel=cancel), on_progress)
    except HubOffline:
        if (cache / COMPLETE_MARKER).is_file():
            return cache
        raise


def _download_all(
    repo_id: str,
    files: tuple[str, ...],
    dest_dir: Path,
    total: int,
    revision: str | None,
    token: str | None,
    cancel: CancelToken | None,
    pause: CancelToken | None,
    retry: RetryPolicy,
) -> Job[list[Path]]:
    """Download ``files`` one after the other, reporting bytes over all of them."""
    finished_bytes = 0
    paths = []
    for name in files:
        job = download_file(
            repo_id,
            name,
            dest_dir,
            revision=revision,
            token=token,
            cancel=cancel,
            pause=pause,
            retry=retry,
        )
        path = yield from _offset(job, finished_bytes, total)
        finished_bytes += path.stat().st_size
        paths.append(path)
    return paths


def _offset(job: Job[Path], before: int, total: int) -> Job[Path]:
    """Re-express one file's progress as progress over the whole set of files."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        if isinstance(event, DownloadProgress) and total:
            left = event.seconds_left
            if event.bytes_per_second > 0:
                left = (total - before - event.done) / event.bytes_per_second
            event = dataclasses.replace(
                event, done=before + event.done, total=total, seconds_left=left
            )
        yield event


def _missing_bytes(dest_dir: Path, files: tuple[str, ...], total: int) -> int:
    local = [dest_dir / PurePosixPath(name).name for name in files]
    return max(0, total - sum(path.stat().st_size for path in local if path.is_file()))


def _already_complete(path: Path, size: int | None) -> bool:
    return path.is_file() and size is not None and path.stat().st_size == size


def _require_checkpoint(details: RepoDetails) -> None:
    if details.kind is RepoKind.CHECKPOINT:
        return
    if details.kind is RepoKind.GGUF:
        raise UnsupportedRepo(
            f"{details.repo_id} holds GGUF files, not a checkpoint to convert: download one of "
            "them instead (quantdesk download)."
        )
    raise UnsupportedRepo(
        f"{details.repo_id} has no safetensors checkpoint (config.json and *.safetensors); "
        "Quantdesk converts only those. Look for a safetensors or GGUF version of the model."
    )
