"""Downloading one file from the hub: resumable, retried, verified, never half-visible.

The transfer is driven here, through ``huggingface_hub``'s shared HTTP client, rather than by
``hf_hub_download``: a job must report bytes as they arrive, stop between chunks for pause and
cancel, and resume a partial file after a crash, a lost connection or an app restart.

Bytes go to ``<dest>/.<name>.download``; a small ``.json`` beside it records which version of
the file (ETag) they belong to, so a resume never mixes two versions. Only once the size and the
checksum the hub announced (sha256 for LFS files, the git blob hash otherwise) match is the file
renamed to its final name, and ``.<name>.verified.json`` records that checksum beside it. A file
already there counts as downloaded only while that record (or, without one, its hash) matches
the hub's current checksum: a re-uploaded file of the same size is downloaded again.
"""

from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx2
from huggingface_hub.utils import get_session, hf_raise_for_status

from converter.errors import Cancelled, NotEnoughDiskSpace
from converter.hub.hub_errors import DownloadCorrupted, DownloadPaused, HubOffline, hub_errors
from converter.hub.hub_session import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, HubContext, hub_context
from converter.hub.transfer import DownloadProgress, RateMeter
from converter.hub.verify import Checksum
from converter.progress import CancelToken, Job
from converter.storage import ensure_free_space, ensure_writable_folder, format_bytes

#: Status codes worth retrying: the server is busy or briefly broken, not refusing us.
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a download keeps trying after the connection drops or stalls."""

    attempts: int = 8  # consecutive failures without a single new byte
    first_wait_s: float = 1.0
    max_wait_s: float = 30.0

    def wait_s(self, failure: int) -> float:
        return min(self.max_wait_s, self.first_wait_s * 2 ** (failure - 1))


@dataclass(frozen=True, slots=True)
class _Request:
    context: HubContext
    repo_id: str
    url: str  # pinned to the commit the metadata came from, so every retry gets the same bytes
    name: str


DEFAULT_RETRY = RetryPolicy()


def partial_download_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.download")


def discard_partial(dest_dir: Path, filename: str) -> None:
    """Delete what an unfinished download of ``filename`` into ``dest_dir`` left behind.

    That is the partial file and its resume record; a finished file is never touched. For
    callers that cancel a download they do not drive themselves (a queue restored at start-up).
    """
    _discard(partial_download_path(Path(dest_dir) / PurePosixPath(filename).name))


def download_file(
    repo_id: str,
    filename: str,
    dest_dir: Path,
    *,
    revision: str | None = None,
    token: str | None = None,
    cancel: CancelToken | None = None,
    pause: CancelToken | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,  # frozen, so sharing the default is safe
) -> Job[Path]:
    """Download ``filename`` from ``repo_id`` into ``dest_dir`` and return its final path.

    Yields :class:`DownloadProgress` (unit ``"bytes"``). Setting ``pause`` stops with
    :class:`DownloadPaused` and keeps the partial file: calling again resumes it; so does
    closing the generator. Setting ``cancel`` raises :class:`Cancelled` and deletes it.
    """
    context = hub_context(token)
    final = Path(dest_dir) / PurePosixPath(filename).name
    name = final.name
    ensure_writable_folder(final.parent)
    with_token = bool(context.token)
    with hub_errors(repo_id, endpoint=context.endpoint, with_token=with_token, what=filename):
        meta, pinned = context.pinned_file(repo_id, filename, revision)
    size, etag = meta.size, meta.etag
    if final.exists():
        current = yield from _verified_copy(final, etag, size, cancel)
        if current:
            yield DownloadProgress(
                "download", size or 0, size or 0, "bytes", f"{name} is already here", name
            )
            return final
        note = f"{name} here differs from the hub's version; downloading it again"
        yield DownloadProgress("download", 0, size or 0, "bytes", note, name)

    partial = partial_download_path(final)
    have = _resumable_bytes(partial, etag, size)
    if size is not None:
        ensure_free_space(final.parent, size - have, f"downloading {name}")
    _state_path(partial).write_text(json.dumps({"etag": etag, "size": size}), encoding="utf-8")
    check = Checksum(etag, size)
    if have:
        yield DownloadProgress("download", have, size or 0, "bytes", f"checking {name}", name)
        check.feed_file(partial, have, cancel=cancel)

    try:
        request = _Request(context, repo_id, pinned, name)
        yield from _transfer(request, partial, check, have, size, cancel, pause, retry)
    except Cancelled:
        _discard(partial)
        raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise NotEnoughDiskSpace(
                f"The disk filled up while downloading {name}; free some space and run the "
                "download again to resume it."
            ) from exc
        raise

    if not check.matches(partial):
        _discard(partial)
        raise DownloadCorrupted(
            f"The download of {name} from {repo_id} was corrupted in transit "
            f"({check.mismatch}); the damaged copy was deleted. Run the download again."
        )
    os.replace(partial, final)
    _state_path(partial).unlink(missing_ok=True)
    _record_verified(final, check.etag, size)
    return final


def verified_record_path(final: Path) -> Path:
    """Beside a finished download: the checksum it was verified against (the hub's ETag)."""
    return final.with_name(f".{final.name}.verified.json")


def forget_verified(final: Path) -> None:
    """Delete the checksum record of a downloaded file (for callers that delete the file)."""
    verified_record_path(final).unlink(missing_ok=True)


def _record_verified(final: Path, etag: str, size: int | None) -> None:
    record = {"etag": etag, "size": size, "mtime_ns": final.stat().st_mtime_ns}
    verified_record_path(final).write_text(json.dumps(record), encoding="utf-8")


def _verified_copy(
    final: Path, etag: str | None, size: int | None, cancel: CancelToken | None
) -> Job[bool]:
    """Whether the file on disk is the hub's current version.

    The record written when it was downloaded answers at once while the file is untouched
    since; without one (or after a change) the file is hashed once and the record written.
    A hub that announces no checksum leaves the size as the only evidence.
    """
    check = Checksum(etag, size)
    actual_size = final.stat().st_size
    if size is not None and actual_size != size:
        return False
    if not check.can_verify:
        return size is not None
    try:
        recorded = json.loads(verified_record_path(final).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if recorded == {"etag": check.etag, "size": size, "mtime_ns": final.stat().st_mtime_ns}:
        return True
    yield DownloadProgress(
        "download", 0, actual_size, "bytes", f"checking {final.name}", final.name
    )
    check.feed_file(final, actual_size, cancel=cancel)
    if not check.matches(final):
        return False
    _record_verified(final, check.etag, size)
    return True


def _transfer(
    request: _Request,
    partial: Path,
    check: Checksum,
    have: int,
    size: int | None,
    cancel: CancelToken | None,
    pause: CancelToken | None,
    retry: RetryPolicy,
) -> Job[None]:
    """Fetch the missing bytes, reconnecting with back-off until done or out of attempts."""
    context, name = request.context, request.name
    meter = RateMeter(have)
    failures = 0
    with open(partial, "ab") as out:
        while size is None or have < size:
            _stop_if_asked(cancel, pause, name, have, size)
            headers = {**context.headers(), "Accept-Encoding": "identity"}
            if have:
                headers["Range"] = f"bytes={have}-"
            try:
                with get_session().stream(
                    "GET",
                    request.url,
                    headers=headers,
                    follow_redirects=True,
                    timeout=httpx2.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
                ) as response:
                    if response.status_code in _RETRY_STATUSES:
                        raise httpx2.RemoteProtocolError(f"HTTP {response.status_code}")
                    if response.status_code == 416 or (have and response.status_code == 200):
                        have = _restart(out, check)  # server ignored or refused our range
                        if response.status_code == 416:
                            continue
                    with hub_errors(
                        request.repo_id,
                        endpoint=context.endpoint,
                        with_token=bool(context.token),
                        what=name,
                    ):
                        hf_raise_for_status(response)
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        check.update(chunk)
                        have += len(chunk)
                        failures = 0
                        if meter.due():
                            yield meter.event(name, have, size)
                        _stop_if_asked(cancel, pause, name, have, size)
                if size is None:
                    break
                if have < size:
                    raise httpx2.RemoteProtocolError("connection closed before the end")
            except httpx2.TransportError as exc:
                failures += 1
                if failures > retry.attempts:
                    raise HubOffline(
                        f"The download of {name} kept failing ({type(exc).__name__}) after "
                        f"{retry.attempts} retries at {format_bytes(have)}; the part already "
                        "downloaded is kept. Check the network and run it again to resume."
                    ) from exc
                wait = retry.wait_s(failures)
                out.flush()
                yield meter.event(
                    name, have, size, note=f"connection lost; retrying in {wait:.0f} s"
                )
                _sleep_unless_stopped(wait, cancel, pause, name, have, size)
        out.flush()
        os.fsync(out.fileno())
    yield meter.event(name, have, size if size is not None else have)


def _resumable_bytes(partial: Path, etag: str | None, size: int | None) -> int:
    """Bytes of an earlier attempt worth keeping: only if they are of this very file version."""
    state = _state_path(partial)
    try:
        recorded = json.loads(state.read_text(encoding="utf-8"))
        have = partial.stat().st_size
    except (OSError, ValueError):
        _discard(partial)
        return 0
    same_version = etag is not None and recorded == {"etag": etag, "size": size}
    if not same_version or (size is not None and have > size):
        _discard(partial)
        return 0
    return have


def _restart(out, check: Checksum) -> int:  # an open binary file
    out.seek(0)
    out.truncate()
    check.restart()
    return 0


def _stop_if_asked(
    cancel: CancelToken | None, pause: CancelToken | None, name: str, have: int, size: int | None
) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled(f"The download of {name}")
    if pause is not None and pause.cancelled:
        share = f" at {100 * have / size:.0f}%" if size else ""
        raise DownloadPaused(f"The download of {name} was paused{share}; start it again to resume.")


def _sleep_unless_stopped(
    seconds: float,
    cancel: CancelToken | None,
    pause: CancelToken | None,
    name: str,
    have: int,
    size: int | None,
) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        _stop_if_asked(cancel, pause, name, have, size)
        time.sleep(min(0.05, left))


def _state_path(partial: Path) -> Path:
    return partial.with_name(partial.name + ".json")


def _discard(partial: Path) -> None:
    partial.unlink(missing_ok=True)
    _state_path(partial).unlink(missing_ok=True)
