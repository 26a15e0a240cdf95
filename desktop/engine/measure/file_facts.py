"""Size facts of one GGUF file, read from its header: level, parameters, bits per weight.

Bits per weight is measured, not looked up: total tensor bytes × 8 / parameter count, the
figure llama.cpp prints when it loads a model. It differs from the catalogue's nominal value
because embeddings and output layers are often kept at another type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from converter.errors import QuantdeskError
from converter.gguf_header import ArrayLength, GGUFHeaderError, TensorInfo, read_gguf_header
from converter.levels import level_name_of_file_type

_FILE_TYPE_KEY = "general.file_type"
_TOKENS_KEY = "tokenizer.ggml.tokens"
_EMBEDDING, _OUTPUT = "token_embd.weight", "output.weight"


class NotAModelFile(QuantdeskError):
    """The file is missing or is not a readable GGUF model."""


class MatrixShare(NamedTuple):
    """The matrices of one weight type in a part of a model: their weights and output rows
    (what a batch's matrix products cost depends on both, at a rate set by the type)."""

    type_name: str
    weights: int
    rows: int


def matrix_shares(tensors: Iterable[TensorInfo]) -> tuple[MatrixShare, ...]:
    """The matrices (two or more dimensions) among ``tensors``, summed per weight type."""
    totals: dict[str, tuple[int, int]] = {}
    for tensor in tensors:
        if len(tensor.shape) < 2:
            continue  # norms and biases: a few values per row, not a matrix product
        weights, rows = totals.get(tensor.type_name, (0, 0))
        totals[tensor.type_name] = (
            weights + tensor.n_elements,
            rows + tensor.n_elements // tensor.shape[0],
        )
    return tuple(MatrixShare(name, w, r) for name, (w, r) in sorted(totals.items()))


@dataclass(frozen=True, slots=True)
class FileFacts:
    path: Path
    size_bytes: int
    level: str  # "F16", "Q8_0", … or "unknown"
    architecture: str
    parameters: int
    tensor_bytes: int
    vocab_size: int  # 0 when the file has no vocabulary
    # The token embedding (a row lookup per token) and the output layer (a matrix product per
    # position that asks for logits); the output's figures are 0 when it is tied to the
    # embedding, which then serves as the output layer too.
    embedding_parameters: int = 0
    embedding_bytes: int = 0
    output_parameters: int = 0
    output_bytes: int = 0
    # The body's matrices (all but the embedding and output) and the output layer's (the
    # embedding's when tied), per weight type.
    body_matrices: tuple[MatrixShare, ...] = ()
    logit_matrices: tuple[MatrixShare, ...] = ()

    @property
    def bits_per_weight(self) -> float:
        return self.tensor_bytes * 8 / self.parameters if self.parameters else 0.0

    @property
    def body_parameters(self) -> int:
        """Weights every evaluated token is multiplied by: all but the embedding and output."""
        return self.parameters - self.embedding_parameters - self.output_parameters

    @property
    def logit_parameters(self) -> int:
        """Weights of the output layer (the embedding when tied), per position with logits."""
        return self.output_parameters or self.embedding_parameters

    @property
    def generated_token_bytes(self) -> int:
        """Weight bytes one generated token reads: every tensor but the embedding, of which a
        token reads one row, unless the embedding is the output layer too."""
        if self.output_parameters == 0:
            return self.tensor_bytes
        return self.tensor_bytes - self.embedding_bytes


def level_name(file_type: int | None) -> str:
    """``general.file_type`` value → the level's name as Quantdesk shows it (``Q4_K_M``)."""
    return level_name_of_file_type(file_type)


def read_file_facts(path: Path) -> FileFacts:
    """Read the header of ``path`` with the project's header reader; tensor data is not touched
    (a 262k-token vocabulary is skipped over, not decoded)."""
    path = Path(path)
    if not path.is_file():
        raise NotAModelFile(f"The model file {path} does not exist.")
    try:
        header = read_gguf_header(path)
    except GGUFHeaderError as exc:
        raise NotAModelFile(f"{path.name} is not a readable GGUF model: {exc}") from exc
    file_type = header.metadata.get(_FILE_TYPE_KEY)
    tokens = header.metadata.get(_TOKENS_KEY)
    if isinstance(tokens, ArrayLength):
        vocab_size = tokens.length
    else:
        vocab_size = len(tokens) if isinstance(tokens, tuple) else 0
    by_name = {t.name: t for t in header.tensors}
    embedding, output = by_name.get(_EMBEDDING), by_name.get(_OUTPUT)
    logit_layer = output or embedding
    return FileFacts(
        path=path,
        size_bytes=header.file_bytes,
        level=level_name(file_type if isinstance(file_type, int) else None),
        architecture=header.architecture,
        parameters=sum(t.n_elements for t in header.tensors),
        tensor_bytes=sum(t.n_bytes for t in header.tensors),
        vocab_size=vocab_size,
        embedding_parameters=0 if embedding is None else embedding.n_elements,
        embedding_bytes=0 if embedding is None else embedding.n_bytes,
        output_parameters=0 if output is None else output.n_elements,
        output_bytes=0 if output is None else output.n_bytes,
        body_matrices=matrix_shares(
            t for t in header.tensors if t.name not in (_EMBEDDING, _OUTPUT)
        ),
        logit_matrices=matrix_shares(() if logit_layer is None else (logit_layer,)),
    )
