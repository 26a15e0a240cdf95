"""Importance matrices: what they hold, and the two file formats llama.cpp's tools use.

An importance matrix tells the quantizer which input columns of each weight matter: for every
``blk.*`` matrix that took part in a matrix multiplication, the sum over all evaluated tokens
of the squared activation that entered each column, and how many tokens that was. A
mixture-of-experts weight has one row of sums and one count per expert.

Two formats are read, as llama.cpp's ``common/imatrix-loader.cpp`` reads them:

* **GGUF** (what ``llama-imatrix`` writes today): ``general.type = "imatrix"``,
  ``imatrix.datasets`` (string array), ``imatrix.chunk_count`` and ``imatrix.chunk_size``
  (u32), and per weight two F32 tensors ``NAME.in_sum2`` (columns × matrices, the raw sums)
  and ``NAME.counts`` (1 × matrices, the token counts). Tensors are sorted by name.
* **legacy ``.dat``** (many hub repositories ship ``imatrix.dat``): little-endian
  ``int32 n_entries``, then per entry ``int32 name length, name bytes, int32 ncall,
  int32 nval, float32[nval]`` where the values are ``sum / count * ncall``; optionally
  ``int32 chunk count, int32 dataset name length, dataset name bytes`` at the end.

The values the quantizer is given (:meth:`ImportanceMatrix.quantizer_values`) are the mean
squared activation per column, as ``llama-quantize`` computes them from either format.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from converter.errors import QuantdeskError
from converter.storage import atomic_output

GENERAL_TYPE = "imatrix"
KEY_DATASETS = "imatrix.datasets"
KEY_CHUNK_COUNT = "imatrix.chunk_count"
KEY_CHUNK_SIZE = "imatrix.chunk_size"
SUMS_SUFFIX = ".in_sum2"
COUNTS_SUFFIX = ".counts"

FloatArray = npt.NDArray[np.float32]
CountArray = npt.NDArray[np.int64]


class ImatrixError(QuantdeskError):
    """An importance matrix file cannot be read, or does not belong to the model."""


@dataclass(frozen=True, slots=True)
class ImatrixEntry:
    """One weight's statistics: ``sums`` is matrices × columns, ``counts`` one per matrix."""

    sums: FloatArray
    counts: CountArray

    @property
    def n_columns(self) -> int:
        return int(self.sums.shape[1])

    @property
    def n_matrices(self) -> int:
        return int(self.sums.shape[0])


@dataclass(frozen=True, slots=True)
class ImportanceMatrix:
    """The statistics of every weight, with where they came from.

    ``legacy`` marks data read from a ``.dat`` file, whose sums are already divided by the
    count and multiplied by ``counts`` (``ncall``), as that format stores them.
    """

    entries: Mapping[str, ImatrixEntry]
    datasets: tuple[str, ...]
    chunk_count: int
    chunk_size: int
    legacy: bool = False

    @property
    def dataset(self) -> str:
        """The first dataset's name (what ``llama-quantize`` records), or ``""``."""
        return self.datasets[0] if self.datasets else ""

    def quantizer_values(self) -> dict[str, FloatArray]:
        """Weight name → mean squared activation per column, flattened over the matrices.

        A matrix (expert) that no token reached gets ones, as ``llama-quantize`` does.
        """
        values: dict[str, FloatArray] = {}
        for name, entry in self.entries.items():
            counts = entry.counts.astype(np.float32)[:, None]
            if self.legacy:
                divided = entry.sums / counts if entry.counts[0] > 0 else entry.sums
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    divided = np.where(counts > 0, entry.sums / counts, np.float32(1.0))
            values[name] = np.ascontiguousarray(divided, dtype=np.float32).reshape(-1)
        return values


def write_imatrix(matrix: ImportanceMatrix, path: Path) -> Path:
    """Write ``matrix`` in llama-imatrix's GGUF format (complete file or none)."""
    import gguf

    path = Path(path)
    with atomic_output(path) as partial:
        writer = gguf.GGUFWriter(partial, arch="")
        writer.kv_data[0].pop(gguf.Keys.General.ARCHITECTURE, None)  # llama-imatrix has none
        writer.add_type(GENERAL_TYPE)
        writer.add_array(KEY_DATASETS, list(matrix.datasets))
        writer.add_uint32(KEY_CHUNK_COUNT, matrix.chunk_count)
        writer.add_uint32(KEY_CHUNK_SIZE, matrix.chunk_size)
        for name in sorted(matrix.entries):
            entry = matrix.entries[name]
            writer.add_tensor(name + SUMS_SUFFIX, np.ascontiguousarray(entry.sums, np.float32))
            counts = entry.counts.astype(np.float32).reshape(entry.n_matrices, 1)
            writer.add_tensor(name + COUNTS_SUFFIX, counts)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return path


def read_imatrix(path: Path) -> ImportanceMatrix:
    """Read a GGUF or a legacy ``.dat`` importance matrix; damaged files raise ImatrixError."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            magic = stream.read(4)
    except FileNotFoundError:
        raise ImatrixError(f"The importance matrix {path} does not exist.") from None
    except OSError as exc:
        raise ImatrixError(f"Cannot read the importance matrix {path}: {exc.strerror}.") from exc
    matrix = _read_gguf(path) if magic == b"GGUF" else _read_legacy(path)
    if not matrix.entries:
        raise ImatrixError(f"The importance matrix {path.name} holds no data.")
    return matrix


def _read_gguf(path: Path) -> ImportanceMatrix:
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, OSError, struct.error, IndexError) as exc:
        raise ImatrixError(f"{path.name} is not a readable GGUF file ({exc}).") from None
    kind = _field_text(reader, "general.type")
    if kind is not None and kind != GENERAL_TYPE:
        raise ImatrixError(
            f"{path.name} is a GGUF {kind} file, not an importance matrix; "
            "give the file llama-imatrix or Quantdesk wrote."
        )
    sums: dict[str, FloatArray] = {}
    counts: dict[str, CountArray] = {}
    for tensor in reader.tensors:
        data = np.asarray(tensor.data, dtype=np.float32)
        if tensor.name.endswith(SUMS_SUFFIX):
            sums[tensor.name.removesuffix(SUMS_SUFFIX)] = data
        elif tensor.name.endswith(COUNTS_SUFFIX):
            rounded = np.rint(data.reshape(-1)).astype(np.int64)
            counts[tensor.name.removesuffix(COUNTS_SUFFIX)] = rounded
    entries: dict[str, ImatrixEntry] = {}
    for name in sorted(set(sums) | set(counts)):
        if name not in sums or name not in counts:
            raise ImatrixError(f"{path.name} is damaged: {name} lacks its sums or its counts.")
        n_mat = len(counts[name])
        flat = sums[name].reshape(-1)
        if n_mat == 0 or flat.size % n_mat:
            raise ImatrixError(f"{path.name} is damaged: the sizes of {name} do not agree.")
        entries[name] = ImatrixEntry(flat.reshape(n_mat, -1).copy(), counts[name])
    datasets = _field_strings(reader, KEY_DATASETS)
    return ImportanceMatrix(
        entries=MappingProxyType(entries),
        datasets=datasets,
        chunk_count=_field_int(reader, KEY_CHUNK_COUNT),
        chunk_size=_field_int(reader, KEY_CHUNK_SIZE),
    )


def _field_text(reader: object, key: str) -> str | None:
    field = reader.get_field(key)  # type: ignore[attr-defined]
    if field is None:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")


def _field_strings(reader: object, key: str) -> tuple[str, ...]:
    field = reader.get_field(key)  # type: ignore[attr-defined]
    if field is None:
        return ()
    return tuple(bytes(field.parts[i]).decode("utf-8", errors="replace") for i in field.data)


def _field_int(reader: object, key: str) -> int:
    field = reader.get_field(key)  # type: ignore[attr-defined]
    return 0 if field is None else int(field.parts[field.data[0]][0])


def _read_legacy(path: Path) -> ImportanceMatrix:
    raw = path.read_bytes()
    damaged = ImatrixError(
        f"{path.name} is neither a GGUF importance matrix nor a legacy imatrix.dat file "
        "(or it is damaged)."
    )
    offset = 0

    def take(fmt: str) -> tuple:
        nonlocal offset
        size = struct.calcsize(fmt)
        if offset + size > len(raw):
            raise damaged
        values = struct.unpack_from(fmt, raw, offset)
        offset += size
        return values

    (n_entries,) = take("<i")
    if not 0 < n_entries < 1_000_000:
        raise damaged
    entries: dict[str, ImatrixEntry] = {}
    for _ in range(n_entries):
        (length,) = take("<i")
        if not 0 < length < 4096:
            raise damaged
        name = bytes(take(f"<{length}s")[0]).decode("utf-8", errors="replace")
        ncall, nval = take("<ii")
        if nval < 1 or offset + 4 * nval > len(raw):
            raise damaged
        values = np.frombuffer(raw, dtype="<f4", count=nval, offset=offset).astype(np.float32)
        offset += 4 * nval
        entries[name] = ImatrixEntry(values.reshape(1, -1), np.array([ncall], dtype=np.int64))
    chunk_count, datasets = 0, ()
    if offset + 4 <= len(raw):
        (chunk_count,) = take("<i")
        if offset + 4 <= len(raw):
            (length,) = take("<i")
            if 0 < length <= len(raw) - offset:
                datasets = (raw[offset : offset + length].decode("utf-8", errors="replace"),)
    return ImportanceMatrix(
        entries=MappingProxyType(dict(sorted(entries.items()))),
        datasets=datasets,
        chunk_count=chunk_count,
        chunk_size=0,
        legacy=True,
    )


def check_matches_model(matrix: ImportanceMatrix, tensors: Mapping[str, tuple[int, ...]]) -> None:
    """Refuse a matrix made for another model, naming the first weight that does not match.

    ``tensors`` maps the model's tensor names to their shapes (GGUF order: columns first).
    A weight's entry must have one sum per column and one row per expert (or one row).
    """
    for name, entry in sorted(matrix.entries.items()):
        shape = tensors.get(name)
        if shape is None:
            raise ImatrixError(
                f"The importance matrix does not belong to this model: it has data for "
                f"{name}, which the model does not have."
            )
        experts = shape[2] if len(shape) > 2 else 1
        if entry.sums.size != shape[0] * experts or entry.n_matrices not in (1, experts):
            raise ImatrixError(
                f"The importance matrix does not belong to this model: it has "
                f"{entry.sums.size} values for {name}, which takes {shape[0] * experts} "
                f"({shape[0]} columns × {experts} matrices) in the model."
            )
        if not np.isfinite(entry.sums).all():
            raise ImatrixError(f"The importance matrix is damaged: {name} holds NaN or infinity.")
