"""What a conversion or quantization step wrote: one GGUF file in the library."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A complete GGUF file (never a partial one) and the facts the CLI's ``--json`` reports."""

    path: Path
    level: str  # "F16", "BF16", "F32", "Q4_K_M" …
    size_bytes: int
    tensor_count: int
    architecture: str  # GGUF architecture name: "llama", "qwen2", "gemma3" …

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data
