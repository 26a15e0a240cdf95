"""Read what the memory-fit needs from a GGUF file's header, without touching the weights.

The header (metadata key/values and tensor infos) sits at the start of the file; the tensor
data that follows can be many gigabytes. This reader walks the header sequentially and never
seeks past it, so it works on a file whose tensor data is missing or still downloading. Large
arrays (the vocabulary) are skipped over and only their length is kept.

Format facts (version 3, little endian) follow the GGUF specification in ggml's docs.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, NoReturn

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from converter.errors import QuantdeskError
from converter.gguf_shards import all_parts

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
#: Numeric arrays up to this length are kept (per-layer head counts, SWA patterns).
_KEEP_ARRAY_MAX = 4096

_SCALAR_FORMATS: Mapping[int, str] = MappingProxyType(
    {
        0: "<B",
        1: "<b",
        2: "<H",
        3: "<h",
        4: "<I",
        5: "<i",
        6: "<f",
        7: "<?",
        10: "<Q",
        11: "<q",
        12: "<d",
    }
)
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")
_BLOCK_BYTES = 1 << 20


class GGUFHeaderError(QuantdeskError):
    """The file is not a GGUF model or its header is damaged."""


@dataclass(frozen=True, slots=True)
class ArrayLength:
    """Stand-in for a large array that was skipped: only its element count is known."""

    length: int


MetadataValue = int | float | bool | str | tuple | ArrayLength


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: shape[0] is the row length
    type_name: str  # "F16", "Q4_K" …

    @property
    def n_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def n_bytes(self) -> int:
        return tensor_bytes(self.type_name, self.shape)

    @property
    def layer(self) -> int | None:
        """Block index for ``blk.N.*`` tensors, else None."""
        if not self.name.startswith("blk."):
            return None
        return int(self.name.split(".", 2)[1])


def tensor_bytes(type_name: str, shape: tuple[int, ...]) -> int:
    """Bytes a tensor of ``type_name`` and ``shape`` occupies (ggml block layout)."""
    block_size, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
    rows = 1
    for dim in shape[1:]:
        rows *= dim
    return rows * (shape[0] // block_size) * block_bytes


@dataclass(frozen=True, slots=True)
class GGUFHeader:
    path: Path
    version: int
    metadata: Mapping[str, MetadataValue]
    tensors: tuple[TensorInfo, ...]
    header_bytes: int  # where the tensor data starts (aligned); of every part, summed
    alignment: int
    file_bytes: int  # size on disk (may be short of complete for a partial file)
    #: A split model's parts after the first, whose tensors and sizes are counted in.
    later_parts: tuple[Path, ...] = ()

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    def arch_value(self, key: str, default: MetadataValue | None = None) -> MetadataValue | None:
        """``{architecture}.{key}`` from the metadata."""
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def data_bytes(self) -> int:
        """Bytes of tensor data a complete file holds, padding between tensors included."""
        return sum(_align(t.n_bytes, self.alignment) for t in self.tensors)

    @property
    def is_complete(self) -> bool:
        """Whether the files hold all the data the header describes (a part's last tensor
        may go without its padding)."""
        slack = self.alignment * (1 + len(self.later_parts))
        return self.file_bytes >= self.header_bytes + self.data_bytes - slack


def _align(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


class _Cursor:
    """Sequential little-endian reads that turn a short file into a clear error."""

    def __init__(self, stream: BinaryIO, path: Path) -> None:
        self._stream = stream
        self._path = path
        self.offset = 0

    def read(self, n: int) -> bytes:
        data = self._stream.read(n)
        if len(data) != n:
            self._short()
        self.offset += n
        return data

    def unpack(self, fmt: str) -> int | float | bool:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = int(self.unpack("<Q"))
        return self.read(length).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        """Skip ``count`` length-prefixed strings, walking buffered blocks (a 262k-token
        vocabulary in well under 0.1 s, where one read per string took seconds)."""
        unpack = _U64.unpack_from
        buffer, position, size = b"", 0, 0
        for _ in range(count):
            if position + 8 > size or position + 8 + unpack(buffer, position)[0] > size:
                buffer, position = self._refill(buffer, position)
                size = len(buffer)
            position += 8 + unpack(buffer, position)[0]
        self._unread(len(buffer) - position)

    def _refill(self, buffer: bytes, position: int) -> tuple[bytes, int]:
        """The unread rest of ``buffer`` plus blocks until a whole string follows."""
        rest = buffer[position:]
        while len(rest) < 8 or len(rest) < 8 + _U64.unpack_from(rest, 0)[0]:
            more = self._block()
            if not more:
                self._short()
            rest += more
        return rest, 0

    def _block(self) -> bytes:
        data = self._stream.read(_BLOCK_BYTES)
        self.offset += len(data)
        return data

    def _unread(self, count: int) -> None:
        """Step back over bytes read ahead by :meth:`skip_strings`."""
        if count:
            self._stream.seek(-count, 1)
            self.offset -= count

    def _short(self) -> NoReturn:
        raise GGUFHeaderError(
            f"{self._path.name} ends inside its GGUF header: the file is incomplete or "
            "damaged. Download or convert it again."
        )

    def value(self, value_type: int) -> MetadataValue:
        if value_type == _STRING:
            return self.string()
        if value_type == _ARRAY:
            item_type = int(self.unpack("<I"))
            count = int(self.unpack("<Q"))
            if item_type in _SCALAR_FORMATS and count <= _KEEP_ARRAY_MAX:
                fmt = _SCALAR_FORMATS[item_type]
                size = struct.calcsize(fmt)
                raw = self.read(size * count)
                return tuple(struct.unpack(f"<{count}{fmt[1:]}", raw)) if count else ()
            if item_type in _SCALAR_FORMATS:
                self.read(struct.calcsize(_SCALAR_FORMATS[item_type]) * count)
            elif item_type == _STRING:
                self.skip_strings(count)
            else:
                for _ in range(count):
                    self.value(item_type)
            return ArrayLength(count)
        scalar_fmt = _SCALAR_FORMATS.get(value_type)
        if scalar_fmt is None:
            raise GGUFHeaderError(
                f"{self._path.name} has a metadata value of unknown type {value_type}; "
                "it is damaged or from a newer GGUF version."
            )
        return self.unpack(scalar_fmt)


def read_gguf_header(path: Path | str) -> GGUFHeader:
    """Parse the header of ``path``; raise :class:`GGUFHeaderError` if it is not a GGUF model.

    The first part of a split model (:mod:`converter.gguf_shards`) stands for the whole model:
    the other parts' tensors and sizes are counted in. A later part is refused, as llama.cpp
    refuses it, with the first part's name.

    Headers are remembered per (path, size, modification time): the library, the fit planner
    and the ladder all read the same files, and a 262k-token vocabulary takes a noticeable
    fraction of a second to skip. A file that changes is read again.
    """
    header = _read_one_file(Path(path))
    count = int(header.metadata.get("split.count", 0) or 0)  # type: ignore[arg-type]
    if count < 2:
        return header
    index = int(header.metadata.get("split.no", 0) or 0)  # type: ignore[arg-type]
    parts = all_parts(header.path)
    if len(parts) != count:
        raise GGUFHeaderError(
            f"{header.path.name} is part {index + 1} of a model split into {count} files, but "
            f"its name is not the parts' NAME-{index + 1:05d}-of-{count:05d}.gguf by which "
            "llama.cpp finds the others. Give the parts their original names."
        )
    if index != 0:
        raise GGUFHeaderError(
            f"{header.path.name} is part {index + 1} of {count} of a split model; "
            f"open its first part, {parts[0].name}."
        )
    later = []
    for part in parts[1:]:
        if not part.exists():
            raise GGUFHeaderError(
                f"{header.path.name} is the first of {count} parts of a split model, and "
                f"{part.name} is missing beside it. Download or copy the missing part."
            )
        later.append(_read_one_file(part))
    return joined_header(header, later)


def joined_header(first: GGUFHeader, later: Sequence[GGUFHeader]) -> GGUFHeader:
    """One header for a split model from its parts' (the first holds the metadata), as
    llama.cpp assembles the model: every part's tensors, sizes added up."""
    return dataclasses.replace(
        first,
        tensors=first.tensors + tuple(t for part in later for t in part.tensors),
        header_bytes=first.header_bytes + sum(part.header_bytes for part in later),
        file_bytes=first.file_bytes + sum(part.file_bytes for part in later),
        later_parts=tuple(part.path for part in later),
    )


def _read_one_file(path: Path) -> GGUFHeader:
    try:
        stat = path.stat()
    except OSError as exc:
        raise GGUFHeaderError(f"Cannot open {path}: {exc.strerror}.") from exc
    return _read_header_of(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=128)
def _read_header_of(path: Path, _size: int, _mtime_ns: int) -> GGUFHeader:
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise GGUFHeaderError(f"Cannot open {path}: {exc.strerror}.") from exc
    with stream:
        cursor = _Cursor(stream, path)
        if cursor.read(4) != GGUF_MAGIC:
            raise GGUFHeaderError(f"{path.name} is not a GGUF file (its first bytes are wrong).")
        version = int(cursor.unpack("<I"))
        if version not in (2, 3):
            raise GGUFHeaderError(
                f"{path.name} uses GGUF version {version}, which is not supported."
            )
        n_tensors = int(cursor.unpack("<Q"))
        n_kv = int(cursor.unpack("<Q"))
        metadata: dict[str, MetadataValue] = {}
        for _ in range(n_kv):
            key = cursor.string()
            metadata[key] = cursor.value(int(cursor.unpack("<I")))
        tensors = []
        for _ in range(n_tensors):
            name = cursor.string()
            n_dims = int(cursor.unpack("<I"))
            shape = tuple(int(cursor.unpack("<Q")) for _ in range(n_dims))
            type_id = int(cursor.unpack("<I"))
            cursor.unpack("<Q")  # offset within the data section; sizes follow from the shape
            try:
                type_name = GGMLQuantizationType(type_id).name
            except ValueError:
                raise GGUFHeaderError(
                    f"{path.name}: tensor {name} has unknown type {type_id}; "
                    "this llama.cpp version cannot read it."
                ) from None
            tensors.append(TensorInfo(name, shape, type_name))
        alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))  # type: ignore[arg-type]
        return GGUFHeader(
            path=path,
            version=version,
            metadata=MappingProxyType(metadata),
            tensors=tuple(tensors),
            header_bytes=_align(cursor.offset, alignment),
            alignment=alignment,
            file_bytes=_size,
        )
