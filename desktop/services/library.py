"""The model library: GGUF files in the library folder and folders the user added.

Files are grouped by base model (the GGUF's ``general.basename``/``general.name``, else the
file name without its level suffix) so that the levels of one model sit together; a level
quantized with an importance matrix (``quantize.imatrix.*`` in its header) is labelled
calibrated and sits beside the same level without one. Facts come
from the GGUF header, never from the file name alone. A file that cannot be read is still
listed, with the reason, so the user can delete it. Headless: no Qt.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from converter.errors import Cancelled, OutputError, QuantdeskError
from converter.gguf_header import read_gguf_header
from converter.gguf_shards import all_parts, is_later_part, model_bytes, model_name
from converter.levels import IMATRIX_LEVELS, LEVELS, SOURCE_LEVELS, level_name_of_file_type
from converter.progress import CancelToken, Job, Progress
from converter.storage import atomic_output, ensure_free_space, ensure_writable_folder
from desktop.engine.measure.results_cache import SIDECAR_SUFFIX

GGUF_MAGIC = b"GGUF"
_COPY_CHUNK = 8 * 1024 * 1024
_ALL_LEVELS = tuple(sorted(LEVELS + IMATRIX_LEVELS, key=lambda lv: lv.bits_per_weight))
_LEVEL_ORDER = {lv.name: i for i, lv in enumerate(_ALL_LEVELS + SOURCE_LEVELS)}
_LEVEL_SUFFIX = re.compile(
    r"[-_. ](" + "|".join(sorted(_LEVEL_ORDER, key=len, reverse=True)) + r")(-imatrix)?$",
    re.IGNORECASE,
)
#: Importance-matrix files (not models) that calibration leaves beside a model.
IMATRIX_FILE_SUFFIX = ".imatrix.gguf"
_IMATRIX_KEY = "quantize.imatrix.file"


class NotAGgufFile(QuantdeskError):
    """A file offered to the library is not a GGUF model."""


@dataclass(frozen=True, slots=True)
class GgufFacts:
    """What the library shows for one file."""

    path: Path
    base_model: str
    level: str  # "Q4_K_M", "F16" … or "unknown"
    size_bytes: int
    architecture: str = ""
    parameter_count: int = 0
    weight_bytes: int = 0
    block_count: int = 0
    context_length: int = 0
    error: str = ""  # set when the header could not be read
    calibrated: bool = False  # quantized with an importance matrix

    @property
    def level_label(self) -> str:
        """``"Q3_K_S"``, or ``"Q3_K_S calibrated"`` for a level made with an importance matrix."""
        return f"{self.level} calibrated" if self.calibrated else self.level

    @property
    def bits_per_weight(self) -> float | None:
        """Measured from the file: bytes of all tensors over their element count."""
        if self.parameter_count <= 0:
            return None
        return self.weight_bytes * 8 / self.parameter_count

    @property
    def sort_key(self) -> tuple[int, str]:
        return (_LEVEL_ORDER.get(self.level, len(_LEVEL_ORDER)), self.path.name)


@dataclass(frozen=True, slots=True)
class ModelGroup:
    base_model: str
    files: tuple[GgufFacts, ...]


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


def read_facts(path: Path) -> GgufFacts:
    """Read one GGUF header (a split model's first part: the whole model's); problems are
    reported in ``error``, never raised."""
    fallback_base, fallback_level = _split_name(model_name(path))
    try:
        header = read_gguf_header(path)
    except QuantdeskError as exc:  # a damaged file must not break the listing
        return GgufFacts(path, fallback_base, fallback_level, model_bytes(path), error=str(exc))
    size = header.file_bytes  # every part's, as read with the header
    meta = header.metadata
    base = str(meta.get("general.basename") or meta.get("general.name") or fallback_base)
    if not header.tensors:
        return GgufFacts(
            path, base, fallback_level, size, header.architecture, error="holds no weights"
        )
    return GgufFacts(
        path=path,
        base_model=base,
        level=level_name_of_file_type(meta.get("general.file_type"), fallback_level),
        size_bytes=size,
        architecture=header.architecture,
        parameter_count=sum(t.n_elements for t in header.tensors),
        weight_bytes=sum(t.n_bytes for t in header.tensors),
        block_count=int(header.arch_value("block_count", 0) or 0),  # type: ignore[arg-type]
        context_length=int(header.arch_value("context_length", 0) or 0),  # type: ignore[arg-type]
        error="" if header.is_complete else "incomplete: the file is shorter than its header says",
        calibrated=_IMATRIX_KEY in meta,
    )


def _split_name(stem: str) -> tuple[str, str]:
    """``"tiny-llama-Q4_K_M"`` → ``("tiny-llama", "Q4_K_M")``."""
    match = _LEVEL_SUFFIX.search(stem)
    if match is None:
        return stem, "unknown"
    return stem[: match.start()], match.group(1).upper()


class FactsCache:
    """Remembers facts per (path, size, mtime) so a rescan only reads changed files (a split
    model's parts each count)."""

    def __init__(self) -> None:
        self._facts: dict[Path, tuple[tuple[tuple[int, int], ...], GgufFacts]] = {}

    def get(self, path: Path) -> GgufFacts:
        stamp = tuple(
            (stat.st_size, stat.st_mtime_ns)
            for stat in (part.stat() for part in all_parts(path) if part.exists())
        )
        cached = self._facts.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        facts = read_facts(path)
        self._facts[path] = (stamp, facts)
        return facts


def find_gguf_files(folders: Iterable[Path]) -> list[Path]:
    """Every complete ``*.gguf`` below the folders (temporary partial files are skipped); of a
    split model, the first part, which stands for the whole model."""
    seen: dict[Path, None] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.gguf")):
            if path.name.startswith(".") or path.name.endswith(
                (".preview.gguf", IMATRIX_FILE_SUFFIX)
            ):
                continue  # being written, a header-only conversion preview, an importance matrix
            if not path.is_file() or is_later_part(path):
                continue
            seen.setdefault(path.resolve(), None)
    return list(seen)


def scan(folders: Sequence[Path], cache: FactsCache | None = None) -> list[ModelGroup]:
    """The library grouped by base model, groups by name and levels in ladder order."""
    cache = cache or FactsCache()
    groups: dict[str, list[GgufFacts]] = {}
    for path in find_gguf_files(folders):
        facts = cache.get(path)
        groups.setdefault(facts.base_model, []).append(facts)
    return [
        ModelGroup(name, tuple(sorted(files, key=lambda f: f.sort_key)))
        for name, files in sorted(groups.items(), key=lambda item: item[0].lower())
    ]


def import_gguf(source: Path, library: Path, *, cancel: CancelToken | None = None) -> Job[Path]:
    """Copy a GGUF into the library (atomically) and return its new path; a split model's
    first part brings every part, and a copy cut short leaves none of them."""
    if not is_gguf(source):
        raise NotAGgufFile(f"{source.name} is not a GGUF model file; choose a .gguf file.")
    sources = all_parts(source)
    if is_later_part(source):
        raise NotAGgufFile(
            f"{source.name} is a later part of a split model; choose its first part, "
            f"{sources[0].name}, and every part comes along."
        )
    missing = [part.name for part in sources if not part.is_file()]
    if missing:
        raise NotAGgufFile(
            f"{source.name} is the first part of a split model, and {', '.join(missing)} "
            "is missing beside it."
        )
    ensure_writable_folder(library)
    for part in sources:
        if (library / part.name).exists():
            raise OutputError(f"The library already has a file named {part.name}; rename it first.")
    total = sum(part.stat().st_size for part in sources)
    ensure_free_space(library, total, f"importing {source.name}")
    copied: list[Path] = []
    try:
        done = 0
        for part in sources:
            target = library / part.name
            with atomic_output(target) as tmp, part.open("rb") as src, tmp.open("wb") as dst:
                while chunk := src.read(_COPY_CHUNK):
                    if cancel is not None and cancel.cancelled:
                        raise Cancelled(f"Importing {source.name}")
                    dst.write(chunk)
                    done += len(chunk)
                    yield Progress("import", done, total, "bytes", f"Copying {part.name}")
                dst.flush()
                os.fsync(dst.fileno())
            copied.append(target)
            shutil.copystat(part, target, follow_symlinks=True)
    except BaseException:
        for target in copied:  # a split model missing parts cannot be opened: none stays
            target.unlink(missing_ok=True)
        raise
    return library / source.name


def delete_gguf(path: Path, folders: Sequence[Path]) -> None:
    """Delete a library file (a split model's first part: every part) and the measurements
    saved beside it; refuses paths outside the library folders."""
    resolved = path.resolve()
    if not any(resolved.is_relative_to(folder.resolve()) for folder in folders):
        raise OutputError(f"{path} is not in a library folder; Quantdesk will not delete it.")
    parts = all_parts(resolved)
    try:
        resolved.unlink()
        for part in parts[1:]:
            part.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"Could not delete {path.name}: {exc.strerror}.") from exc
    # The measurements saved beside it describe that file alone.
    resolved.with_name(resolved.name + SIDECAR_SUFFIX).unlink(missing_ok=True)
    from converter.hub.download import forget_verified  # the hub client loads only when needed

    for part in parts:
        forget_verified(part)  # the checksum record of a file downloaded from the hub
