"""The downloads queue on disk, so pending downloads pick up again after the app restarts.

One small JSON file under the app's data folder lists every download not yet finished: what to
fetch (repo, commit, files), where to, and whether it was waiting, paused or failed. Finished
and cancelled downloads are dropped from it. The file is replaced atomically; a damaged one is
set aside and the app starts with an empty queue rather than refusing to start. Plain Python;
the hub's HTTP stack is imported only when a partial download is discarded, not at start-up.
"""

from __future__ import annotations

import contextlib
import enum
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from converter.hub.repo_kind import GgufChoice
from converter.paths import data_dir
from converter.storage import atomic_output

QUEUE_FILE_NAME = "downloads.json"
_FORMAT_VERSION = 1


class DownloadState(enum.Enum):
    QUEUED = "queued"  # waiting for its turn (also: was running when the app closed)
    RUNNING = "running"
    PAUSED = "paused"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DownloadEntry:
    """One model to download: every file of a GGUF choice, pinned to one commit."""

    repo_id: str
    revision: str
    files: tuple[str, ...]
    size_bytes: int | None
    level: str | None
    dest_dir: Path
    state: DownloadState = DownloadState.QUEUED
    message: str = ""  # why it failed, or where a pause left it
    existing: tuple[str, ...] = ()  # files already in dest_dir before: never deleted on cancel

    @property
    def key(self) -> str:
        return f"{self.repo_id}/{self.files[0]}"

    @property
    def title(self) -> str:
        level = f" {self.level}" if self.level else ""
        return f"{self.repo_id.split('/')[-1]}{level}"

    @property
    def final_path(self) -> Path:
        """The file llama.cpp opens (the first shard of a split model)."""
        return self.dest_dir / Path(self.files[0]).name

    def choice(self) -> GgufChoice:
        return GgufChoice(self.level, self.files, self.size_bytes)

    def with_state(self, state: DownloadState, message: str = "") -> DownloadEntry:
        return replace(self, state=state, message=message)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(dest_dir=str(self.dest_dir), state=self.state.value, files=list(self.files))
        data["existing"] = list(self.existing)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DownloadEntry:
        state = DownloadState(data.get("state", "queued"))
        return cls(
            repo_id=str(data["repo_id"]),
            revision=str(data["revision"]),
            files=tuple(str(f) for f in data["files"]),
            size_bytes=None if data.get("size_bytes") is None else int(data["size_bytes"]),
            level=data.get("level"),
            dest_dir=Path(data["dest_dir"]),
            # A download running when the app stopped resumes by itself next time.
            state=DownloadState.QUEUED if state is DownloadState.RUNNING else state,
            message=str(data.get("message", "")),
            existing=tuple(str(f) for f in data.get("existing", ())),
        )


def queue_file() -> Path:
    return data_dir() / QUEUE_FILE_NAME


def load_queue(path: Path | None = None) -> list[DownloadEntry]:
    path = path or queue_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [DownloadEntry.from_json(item) for item in data["downloads"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError):
        with contextlib.suppress(OSError):  # keep it for a curious user; start afresh
            path.replace(path.with_name(path.name + ".damaged"))
        return []


def save_queue(entries: list[DownloadEntry], path: Path | None = None) -> None:
    path = path or queue_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {"version": _FORMAT_VERSION, "downloads": [e.to_json() for e in entries]}, indent=2
    )
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def discard_download_files(entry: DownloadEntry) -> None:
    """Remove what a cancelled download left: partial files, and shards it finished itself."""
    from converter.hub.download import discard_partial, forget_verified

    for name in entry.files:
        final = entry.dest_dir / Path(name).name
        discard_partial(entry.dest_dir, name)
        if Path(name).name not in entry.existing:
            final.unlink(missing_ok=True)
            forget_verified(final)
