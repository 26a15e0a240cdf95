"""Reading a GGUF file's header on the hub without downloading the file.

The header (metadata and tensor infos) is at the start of the file and is all the memory-fit
estimator needs. It is fetched with HTTP range requests, starting small and doubling the range
until the header parses (as gguf-parser does): most headers fit in a few MiB, though a large
vocabulary can push one past 10 MiB. The bytes are parsed by the engine's own header reader, so
a remote file and a local one give the same :class:`~converter.gguf_header.GGUFHeader`.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path, PurePosixPath

import httpx2
from huggingface_hub.utils import get_session, hf_raise_for_status

from converter.gguf_header import GGUF_MAGIC, GGUFHeader, GGUFHeaderError, read_gguf_header
from converter.hub.hub_errors import hub_errors
from converter.hub.hub_session import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, HubContext, hub_context

FIRST_RANGE_BYTES = 2 * 1024 * 1024
MAX_HEADER_BYTES = 128 * 1024 * 1024


def read_remote_gguf_header(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    first_bytes: int = FIRST_RANGE_BYTES,
    max_bytes: int = MAX_HEADER_BYTES,
) -> GGUFHeader:
    """The header of ``filename`` in ``repo_id``; ``file_bytes`` is the remote file's size.

    ``path`` in the result is the file's name in the repo (it is not on disk).
    """
    context = hub_context(token)
    with_token = bool(context.token)
    with hub_errors(repo_id, endpoint=context.endpoint, with_token=with_token, what=filename):
        meta, pinned = context.pinned_file(repo_id, filename, revision)
        limit = min(max_bytes, meta.size) if meta.size else max_bytes
        prefix = b""
        wanted = min(first_bytes, limit)
        with tempfile.TemporaryDirectory(prefix="quantdesk-gguf-") as scratch:
            local = Path(scratch) / PurePosixPath(filename).name
            while True:
                prefix += _fetch_range(context, pinned, len(prefix), wanted)
                if prefix[:4] != GGUF_MAGIC:
                    raise GGUFHeaderError(f"{filename} in {repo_id} is not a GGUF file.")
                local.write_bytes(prefix)
                try:
                    header = read_gguf_header(local)
                except GGUFHeaderError:
                    if len(prefix) < wanted or wanted >= limit:
                        raise  # the whole file (or the cap) was read: really damaged
                    wanted = min(wanted * 2, limit)
                    continue
                return dataclasses.replace(
                    header,
                    path=Path(filename),
                    file_bytes=meta.size if meta.size is not None else header.file_bytes,
                )


def _fetch_range(context: HubContext, url: str, start: int, end_exclusive: int) -> bytes:
    """Bytes ``[start, end_exclusive)`` of the file (fewer at its end)."""
    if end_exclusive <= start:
        return b""
    headers = {**context.headers(), "Range": f"bytes={start}-{end_exclusive - 1}"}
    wanted = end_exclusive - start
    with get_session().stream(
        "GET",
        url,
        headers=headers,
        follow_redirects=True,
        timeout=httpx2.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
    ) as response:
        hf_raise_for_status(response)
        skip = start if response.status_code == 200 else 0  # server ignored the range
        parts: list[bytes] = []
        received = 0
        for chunk in response.iter_bytes():
            if skip:
                dropped = min(skip, len(chunk))
                chunk = chunk[dropped:]
                skip -= dropped
            parts.append(chunk)
            received += len(chunk)
            if received >= wanted:
                break
    return b"".join(parts)[:wanted]
