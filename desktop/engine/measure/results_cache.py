"""Measurements saved beside each model (``<model>.gguf.quantdesk.json``) so they are shown
again without re-measuring.

A record is valid only for the exact file it was measured on: the sidecar keeps the file's
identity (size, modification time, SHA-256 of its first MiB, which holds the header) and is
ignored as soon as any of them changes. Each record also carries what it depends on: speed
on the settings and the machine, quality on the reference file's identity, the text's hash,
the context size and the chunk limit. Several records (other settings, other references)
live side by side; a new one replaces only the one with the same key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.errors import OutputError
from converter.storage import atomic_output
from desktop.engine.measure.quality import QualityResult
from desktop.engine.measure.speed import SpeedResult, SpeedSettings

SIDECAR_SUFFIX = ".quantdesk.json"
_FORMAT = 2  # 2: quality records carry the same-top share's error
_HEADER_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileIdentity:
    size: int
    mtime_ns: int
    header_sha256: str

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        stat = Path(path).stat()
        with Path(path).open("rb") as stream:
            digest = hashlib.sha256(stream.read(_HEADER_BYTES)).hexdigest()
        return cls(stat.st_size, stat.st_mtime_ns, digest)


@dataclass(frozen=True, slots=True)
class QualityKey:
    """What a quality figure depends on besides the file itself."""

    reference: FileIdentity
    text_sha256: str
    ctx_tokens: int
    max_chunks: int | None


@dataclass(frozen=True, slots=True)
class CachedResults:
    """Everything still valid for one model file (empty tuples when nothing is)."""

    speed: tuple[SpeedResult, ...]
    quality: tuple[tuple[QualityKey, QualityResult], ...]


def sidecar_path(model: Path) -> Path:
    return Path(model).with_name(Path(model).name + SIDECAR_SUFFIX)


def _machine() -> str:
    """Speed belongs to a machine; a library folder may be copied to another one."""
    return f"{platform.node()}|{platform.machine()}|{os.cpu_count()}"


def _read(model: Path) -> dict[str, Any]:
    """The sidecar's records if it belongs to the file as it is now, else fresh ones."""
    fresh: dict[str, Any] = {"format": _FORMAT, "speed": [], "quality": []}
    try:
        data = json.loads(sidecar_path(model).read_text(encoding="utf-8"))
        identity = FileIdentity.of(model)
    except (OSError, ValueError):
        return fresh
    if (
        not isinstance(data, dict)
        or data.get("format") != _FORMAT
        or data.get("file") != dataclasses.asdict(identity)
    ):
        return fresh
    return data


def _speed_key(settings: SpeedSettings) -> dict[str, Any]:
    return {"settings": dataclasses.asdict(settings), "machine": _machine()}


def _quality_key(key: QualityKey) -> dict[str, Any]:
    return dataclasses.asdict(key)


def _speed_from(record: dict[str, Any]) -> SpeedResult:
    result = dict(record["result"])
    result["settings"] = SpeedSettings(**record["key"]["settings"])
    result["prompt_seconds"] = tuple(result["prompt_seconds"])
    result["gen_seconds"] = tuple(result["gen_seconds"])
    return SpeedResult(**result)


def _quality_key_from(data: dict[str, Any]) -> QualityKey:
    return QualityKey(
        FileIdentity(**data["reference"]),
        data["text_sha256"],
        data["ctx_tokens"],
        data["max_chunks"],
    )


def load_cached_results(model: Path) -> CachedResults:
    """All still-valid results for ``model``, for the GUI; never raises for a bad sidecar."""
    data = _read(model)
    try:
        speed = tuple(_speed_from(r) for r in data["speed"] if r["key"]["machine"] == _machine())
        quality = tuple(
            (_quality_key_from(r["key"]), QualityResult(**r["result"])) for r in data["quality"]
        )
    except (KeyError, TypeError, ValueError):
        return CachedResults((), ())
    return CachedResults(speed, quality)


def cached_speed(model: Path, settings: SpeedSettings) -> SpeedResult | None:
    wanted = _speed_key(settings.resolved())
    for record in _read(model).get("speed", []):
        if record.get("key") == wanted:
            try:
                return _speed_from(record)
            except (KeyError, TypeError, ValueError):
                return None
    return None


def cached_quality(model: Path, key: QualityKey) -> QualityResult | None:
    wanted = _quality_key(key)
    for record in _read(model).get("quality", []):
        if record.get("key") == wanted:
            try:
                return QualityResult(**record["result"])
            except (KeyError, TypeError):
                return None
    return None


def _save(model: Path, kind: str, key: dict[str, Any], result: dict[str, Any]) -> None:
    data = _read(model)
    data["file"] = dataclasses.asdict(FileIdentity.of(model))
    data[kind] = [r for r in data.get(kind, []) if r.get("key") != key]
    data[kind].append({"key": key, "result": result})
    target = sidecar_path(model)
    try:
        with atomic_output(target) as tmp:
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"Cannot save measurements beside {model.name}: {exc.strerror}.") from exc


def save_speed(model: Path, result: SpeedResult) -> None:
    """Remember a speed result (raises OutputError if the folder is read-only)."""
    record = dataclasses.asdict(result)
    del record["settings"]
    _save(model, "speed", _speed_key(result.settings), record)


def save_quality(model: Path, key: QualityKey, result: QualityResult) -> None:
    """Remember a quality result (raises OutputError if the folder is read-only)."""
    _save(model, "quality", _quality_key(key), dataclasses.asdict(result))
