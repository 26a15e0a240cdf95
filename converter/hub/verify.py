"""Checking downloaded bytes against the checksum the hub announces in a file's ETag.

For LFS files (weights) the ETag is the sha256 of the content; for small files it is the git
blob id: the sha1 of ``"blob <size>\\0"`` followed by the content. Both are checked while the
bytes arrive, so verifying costs no extra pass over a large file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from converter.progress import CancelToken

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_READ_BYTES = 8 * 1024 * 1024


class Checksum:
    """Hash of the bytes so far, compared with what the hub's ETag promises."""

    def __init__(self, etag: str | None, size: int | None) -> None:
        self.expected_size = size
        self.etag = (etag or "").lower()
        self.mismatch = ""
        self._hash: hashlib._Hash | None = None
        self._reset()

    def _reset(self) -> None:
        if _SHA256.match(self.etag):
            self._hash = hashlib.sha256()
        elif _GIT_SHA1.match(self.etag) and self.expected_size is not None:
            self._hash = hashlib.sha1(usedforsecurity=False)  # git's blob id: sha1 of header + data
            self._hash.update(f"blob {self.expected_size}\0".encode())
        else:
            self._hash = None

    @property
    def can_verify(self) -> bool:
        """Whether the ETag is a checksum (sha256 or git blob id) this class can check."""
        return self._hash is not None

    def restart(self) -> None:
        self._reset()

    def update(self, chunk: bytes) -> None:
        if self._hash is not None:
            self._hash.update(chunk)

    def feed_file(self, path: Path, length: int, *, cancel: CancelToken | None) -> None:
        with open(path, "rb") as handle:
            remaining = length
            while remaining > 0:
                if cancel is not None:
                    cancel.raise_if_cancelled("The download")
                block = handle.read(min(_READ_BYTES, remaining))
                if not block:
                    break
                self.update(block)
                remaining -= len(block)

    def matches(self, path: Path) -> bool:
        actual_size = path.stat().st_size
        if self.expected_size is not None and actual_size != self.expected_size:
            self.mismatch = f"{actual_size} bytes instead of {self.expected_size}"
            return False
        if self._hash is not None and self._hash.hexdigest() != self.etag:
            self.mismatch = "checksum mismatch"
            return False
        return True
