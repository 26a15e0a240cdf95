"""Reading a Hugging Face checkpoint folder without loading it into memory.

A safetensors file is an 8-byte little-endian header length, a JSON header naming every
tensor's dtype, shape and byte range, then the raw data. We parse the header ourselves and
validate it completely (sane length, every byte range inside the file, no overlaps past the
end) before any output is written, so a truncated download is reported up front with the file
named. Tensor data is read later through short-lived memory maps, a block of rows at a time, so
memory use does not grow with the model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from converter.errors import CheckpointError

#: Largest header we accept; real ones are a few hundred KiB even for 400B-parameter models.
MAX_HEADER_BYTES = 100 * 1024 * 1024
INDEX_FILE = "model.safetensors.index.json"
CONFIG_FILE = "config.json"

#: safetensors dtype → (numpy dtype of the stored bits, bytes per element). BF16 has no numpy
#: type: its bits are read as uint16 and widened to float32 by :func:`bf16_bits_to_f32`.
_STORED_DTYPES: Mapping[str, tuple[np.dtype, int]] = MappingProxyType(
    {
        "F32": (np.dtype("<f4"), 4),
        "F16": (np.dtype("<f2"), 2),
        "BF16": (np.dtype("<u2"), 2),
    }
)


def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32, so shifting its bits up is exact.

    Shifting straight into a uint32 result skips the widened temporary (about 30 % faster).
    """
    return np.left_shift(bits, 16, dtype=np.uint32).view(np.float32)


@dataclass(frozen=True, slots=True)
class TensorRef:
    """Where one tensor's bytes are; reading them is deferred until they are written out."""

    name: str
    file: Path
    dtype: str  # safetensors dtype: "F32", "F16", "BF16"
    shape: tuple[int, ...]
    offset: int  # absolute byte offset of the data in ``file``

    @property
    def rows(self) -> int:
        return self.shape[0] if self.shape else 1

    @property
    def row_elements(self) -> int:
        return math.prod(self.shape[1:]) if len(self.shape) > 1 else 1

    @property
    def element_count(self) -> int:
        return math.prod(self.shape)

    def _mapped_rows(self) -> np.memmap:
        stored, _size = _STORED_DTYPES[self.dtype]
        return np.memmap(
            self.file, dtype=stored, mode="r", offset=self.offset,
            shape=(self.rows, self.row_elements),
        )  # fmt: skip

    def read_rows(self, start: int, stop: int, order: np.ndarray | None = None) -> np.ndarray:
        """Rows ``start:stop`` (or rows ``order[start:stop]``) as float32, shape (n, row_elements).

        The map is dropped on return, so the pages it touched leave this process's memory.
        """
        mapped = self._mapped_rows()
        try:
            block = mapped[start:stop] if order is None else mapped[order[start:stop]]
            if self.dtype == "BF16":
                return bf16_bits_to_f32(block)
            return np.array(block, dtype=np.float32)
        finally:
            del mapped

    def read_raw_rows(self, start: int, stop: int, order: np.ndarray | None = None) -> np.ndarray:
        """Rows ``start:stop`` (or ``order[start:stop]``) in their stored encoding, unconverted."""
        mapped = self._mapped_rows()
        try:
            return np.array(mapped[start:stop] if order is None else mapped[order[start:stop]])
        finally:
            del mapped


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A validated checkpoint folder: its config and an index of every tensor."""

    folder: Path
    config: Mapping[str, Any]
    tensors: Mapping[str, TensorRef]

    @property
    def name(self) -> str:
        return self.folder.name


def read_config(folder: Path) -> dict[str, Any]:
    """config.json as a dict, or a :class:`CheckpointError` that says what is missing."""
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a folder; choose a Hugging Face checkpoint folder.")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{folder} has no config.json, so it is not a Hugging Face model checkpoint. "
            "Choose the folder that holds config.json and the *.safetensors files."
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} cannot be read as JSON ({exc}); download it again.") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} does not hold a JSON object; download it again.")
    return config


def shard_files(folder: Path) -> tuple[Path, ...]:
    """The safetensors files of a checkpoint, from its index when there is one."""
    index_path = folder / INDEX_FILE
    if index_path.is_file():
        try:
            weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{index_path} is damaged ({exc}); download it again.") from exc
        missing = [name for name in names if not (folder / name).is_file()]
        if missing:
            raise CheckpointError(
                f"The checkpoint in {folder} is incomplete: {', '.join(missing)} listed in "
                f"{INDEX_FILE} is missing. Download the missing files."
            )
        return tuple(folder / name for name in names)
    files = tuple(sorted(folder.glob("*.safetensors")))
    if not files:
        bins = sorted(p.name for p in folder.glob("*.bin"))
        hint = " It only has PyTorch .bin weights, which Quantdesk does not read." if bins else ""
        raise CheckpointError(f"{folder} has no .safetensors weight files.{hint}")
    return files


def read_safetensors_index(path: Path) -> dict[str, TensorRef]:
    """Parse and validate one safetensors header; no tensor data is read."""
    try:
        file_size = path.stat().st_size
        with path.open("rb") as stream:
            length_bytes = stream.read(8)
            if len(length_bytes) < 8:
                raise CheckpointError(f"{path.name} is empty or truncated; download it again.")
            header_length = int.from_bytes(length_bytes, "little")
            if header_length > min(MAX_HEADER_BYTES, file_size - 8):
                raise CheckpointError(
                    f"{path.name} is not a valid safetensors file (its header claims "
                    f"{header_length} bytes); it may be truncated. Download it again."
                )
            header_bytes = stream.read(header_length)
    except OSError as exc:
        raise CheckpointError(f"Cannot read {path}: {exc.strerror}.") from exc
    try:
        header = json.loads(header_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"{path.name} has a damaged header ({exc}); download it again."
        ) from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name} has a damaged header; download it again.")
    data_start = 8 + header_length
    tensors: dict[str, TensorRef] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _tensor_ref(path, name, entry, data_start, file_size)
    return tensors


def _tensor_ref(path: Path, name: str, entry: Any, data_start: int, file_size: int) -> TensorRef:
    try:
        dtype = str(entry["dtype"])
        shape = tuple(int(n) for n in entry["shape"])
        begin, end = (int(n) for n in entry["data_offsets"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{path.name}: the entry for {name} is damaged; download it again."
        ) from exc
    if dtype not in _STORED_DTYPES:
        raise CheckpointError(
            f"{path.name}: tensor {name} is stored as {dtype}; Quantdesk converts only F32, F16 "
            "and BF16 checkpoints (not already-quantized ones)."
        )
    expected = math.prod(shape) * _STORED_DTYPES[dtype][1]
    if begin < 0 or end - begin != expected or any(n < 0 for n in shape):
        raise CheckpointError(
            f"{path.name}: tensor {name} has inconsistent offsets; download it again."
        )
    if data_start + end > file_size:
        raise CheckpointError(
            f"{path.name} is truncated: tensor {name} ends at byte {data_start + end} but the "
            f"file has only {file_size} bytes. The download was probably interrupted; download "
            "it again."
        )
    return TensorRef(name=name, file=path, dtype=dtype, shape=shape, offset=data_start + begin)


def open_checkpoint(folder: Path) -> Checkpoint:
    """Read config.json and every safetensors header of ``folder``, validating all of them."""
    folder = Path(folder)
    config = read_config(folder)
    tensors: dict[str, TensorRef] = {}
    for path in shard_files(folder):
        for name, ref in read_safetensors_index(path).items():
            if name in tensors:
                raise CheckpointError(
                    f"Tensor {name} appears in both {tensors[name].file.name} and {path.name}; "
                    "the checkpoint folder mixes two downloads."
                )
            tensors[name] = ref
    return Checkpoint(
        folder=folder, config=MappingProxyType(config), tensors=MappingProxyType(tensors)
    )
