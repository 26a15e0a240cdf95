"""Split GGUF models: one model in several files, named as llama.cpp's ``gguf-split`` names them.

A model too large for one file (the hub's limit is 50 GB) comes as ``NAME-00001-of-00003.gguf``,
``NAME-00002-of-00003.gguf`` … in one folder. llama.cpp opens the first part and finds the
others by that naming; the first part's header holds the model's metadata and every part
holds some of its tensors (``split.no``, ``split.count`` in each header).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_SHARD_NAME = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")


@dataclass(frozen=True, slots=True)
class ShardName:
    """What a part's file name says: the model's name, and which part of how many it is."""

    stem: str
    index: int  # from 1, as in the name
    count: int

    def part(self, index: int) -> str:
        """The file name of part ``index`` (from 1) of the same model."""
        return f"{self.stem}-{index:05d}-of-{self.count:05d}.gguf"


def shard_name(file_name: str) -> ShardName | None:
    """The part ``file_name`` names (``a/b-00002-of-00003.gguf``: part 2 of 3 of ``a/b``),
    or None for a file that is not named as a part of a split model."""
    match = _SHARD_NAME.match(file_name)
    if match is None:
        return None
    return ShardName(match["stem"], int(match["index"]), int(match["count"]))


def is_later_part(path: Path) -> bool:
    """Whether ``path`` is a split model's second or later part (not what llama.cpp opens)."""
    shard = shard_name(path.name)
    return shard is not None and shard.index > 1


def all_parts(path: Path) -> tuple[Path, ...]:
    """Every file of the model ``path`` opens: its parts in order, or the file alone."""
    shard = shard_name(path.name)
    if shard is None or shard.count < 2:
        return (path,)
    return tuple(path.with_name(shard.part(index)) for index in range(1, shard.count + 1))


def model_name(path: Path) -> str:
    """The model's name: the file name without ``.gguf`` and without a part's numbering."""
    shard = shard_name(path.name)
    return shard.stem if shard is not None else path.stem


def model_bytes(path: Path) -> int:
    """Bytes on disk of the model ``path`` opens: every part of a split one (those present)."""
    return sum(part.stat().st_size for part in all_parts(path) if part.exists())
