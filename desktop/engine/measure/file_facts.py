"""Size facts of one GGUF file, read from its header: level, parameters, bits per weight.

Bits per weight is measured, not looked up: total tensor bytes × 8 / parameter count, the
figure llama.cpp prints when it loads a model. It differs from the catalogue's nominal value
because embeddings and output layers are often kept at another type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converter.errors import QuantdeskError

_FILE_TYPE_KEY = "general.file_type"
_ARCHITECTURE_KEY = "general.architecture"
_TOKENS_KEY = "tokenizer.ggml.tokens"


class NotAModelFile(QuantdeskError):
    """The file is missing or is not a readable GGUF model."""


@dataclass(frozen=True, slots=True)
class FileFacts:
    path: Path
    size_bytes: int
    level: str  # "F16", "Q8_0", … or "unknown"
    architecture: str
    parameters: int
    tensor_bytes: int
    vocab_size: int  # 0 when the file has no vocabulary

    @property
    def bits_per_weight(self) -> float:
        return self.tensor_bytes * 8 / self.parameters if self.parameters else 0.0


def level_name(file_type: int | None) -> str:
    """``general.file_type`` value → the level's name as Quantdesk shows it (``Q4_K_M``)."""
    from gguf import LlamaFileType

    if file_type is None:
        return "unknown"
    try:
        name = LlamaFileType(file_type).name
    except ValueError:
        return "unknown"
    return {"ALL_F32": "F32"}.get(name, name.removeprefix("MOSTLY_"))


def _scalar(reader: object, key: str) -> int | str | None:
    field = reader.get_field(key)  # type: ignore[attr-defined]
    if field is None:
        return None
    value = field.contents()
    return value if isinstance(value, int | str) else None


def read_file_facts(path: Path) -> FileFacts:
    """Read the header of ``path``; tensor data is not touched."""
    from gguf import GGUFReader

    path = Path(path)
    if not path.is_file():
        raise NotAModelFile(f"The model file {path} does not exist.")
    try:
        reader = GGUFReader(path)
    except (ValueError, OSError, IndexError) as exc:
        raise NotAModelFile(f"{path.name} is not a readable GGUF model ({exc}).") from exc
    file_type = _scalar(reader, _FILE_TYPE_KEY)
    architecture = _scalar(reader, _ARCHITECTURE_KEY)
    tokens = reader.get_field(_TOKENS_KEY)
    return FileFacts(
        path=path,
        size_bytes=path.stat().st_size,
        level=level_name(file_type if isinstance(file_type, int) else None),
        architecture=str(architecture or "unknown"),
        parameters=sum(int(t.n_elements) for t in reader.tensors),
        tensor_bytes=sum(int(t.n_bytes) for t in reader.tensors),
        vocab_size=0 if tokens is None else len(tokens.data),
    )
