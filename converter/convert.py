"""Hugging Face checkpoint → full-precision GGUF, streamed one block of rows at a time.

Everything that can fail is checked before the output file exists: the checkpoint's headers
and shards, the architecture, the tensor names, the tokenizer, the output folder and its free
space. The writer then records every tensor's name, shape and type, writes the header, and
fills in the data tensor by tensor from short-lived memory maps, so memory use stays flat as
models grow. The file appears under its final name only once complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, BinaryIO

import gguf
import numpy as np

from converter.architectures import ArchSpec, find_architecture, hf_class_of
from converter.architectures.hparams import HParams, read_hparams
from converter.architectures.plan import PlannedTensor, gguf_type_for, plan_tensors
from converter.architectures.transforms import RowTransform
from converter.checkpoint import TensorRef, open_checkpoint, read_config
from converter.errors import QuantdeskError
from converter.progress import CancelToken, Job, Progress
from converter.storage import atomic_output, ensure_free_space, ensure_writable_folder
from converter.written import WrittenFile

if TYPE_CHECKING:
    from converter.tokenizer.tokenizer_spec import TokenizerSpec

Q = gguf.GGMLQuantizationType
#: Elements converted per block; bounds the float32 scratch memory to about 32 MiB.
BLOCK_ELEMENTS = 8 * 1024 * 1024
#: Room for metadata and the vocabulary beyond the tensor data when checking free space.
METADATA_ALLOWANCE = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OutType:
    level: str  # "F16" …, the file-name suffix and WrittenFile.level
    tensor_type: gguf.GGMLQuantizationType
    file_type: gguf.LlamaFileType
    stored_dtype: np.dtype  # numpy dtype of the encoded elements
    source_dtype: str  # safetensors dtype that can be copied without re-encoding


OUTTYPES = MappingProxyType(
    {
        "f16": OutType("F16", Q.F16, gguf.LlamaFileType.MOSTLY_F16, np.dtype("<f2"), "F16"),
        "bf16": OutType("BF16", Q.BF16, gguf.LlamaFileType.MOSTLY_BF16, np.dtype("<u2"), "BF16"),
        "f32": OutType("F32", Q.F32, gguf.LlamaFileType.ALL_F32, np.dtype("<f4"), "F32"),
    }
)
_F32 = OutType("F32", Q.F32, gguf.LlamaFileType.ALL_F32, np.dtype("<f4"), "F32")


def default_outtype(hp: HParams) -> str:
    """BF16 for bfloat16 checkpoints (F16 could overflow their range), F16 otherwise."""
    return "bf16" if hp.dtype == "bfloat16" else "f16"


def resolve_outtype(outtype: str | None, hp: HParams) -> OutType:
    key = (outtype or default_outtype(hp)).lower()
    if key not in OUTTYPES:
        raise QuantdeskError(f"Unknown output type {outtype!r}; choose f16, bf16 or f32.")
    return OUTTYPES[key]


def f32_to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (nearest, ties to even), keeping NaNs NaN."""
    bits = values.view(np.uint32)
    rounded = (bits + (0x7FFF + ((bits >> 16) & 1))) >> 16
    nan = np.isnan(values)
    if nan.any():
        rounded[nan] = (bits[nan] >> 16) | 0x40
    return rounded.astype(np.uint16)


def _encode(rows: np.ndarray, out: OutType) -> np.ndarray:
    if out.tensor_type is Q.BF16:
        return f32_to_bf16_bits(rows)
    return rows.astype(out.stored_dtype, copy=False)


def tensor_blocks(tensor: PlannedTensor, out: OutType) -> Iterator[np.ndarray]:
    """The tensor's encoded bytes, a block of rows at a time.

    A stacked expert tensor is its experts' data one after another, so each expert is read
    block by block from its own memory map: memory stays at one block however many experts.
    """
    if tensor.generated is not None:
        yield _encode(np.ascontiguousarray(tensor.generated, dtype=np.float32), out)
        return
    for source in tensor.sources:
        yield from _source_blocks(source, tensor.transform, out)


def _source_blocks(
    source: TensorRef, transform: RowTransform, out: OutType
) -> Iterator[np.ndarray]:
    step = max(1, BLOCK_ELEMENTS // source.row_elements)
    # A pure row reorder in the output's own encoding moves stored rows: converting them to
    # float32 and back would give the same bits at about 20 times the cost.
    order = transform.row_order
    copy_raw = transform.keeps_values and source.dtype == out.source_dtype
    for start in range(0, source.rows, step):
        stop = min(source.rows, start + step)
        if copy_raw:
            yield source.read_raw_rows(start, stop, order)
            continue
        rows = source.read_rows(start, stop, order)
        yield _encode(transform.apply(rows), out)


def _out_type_of(tensor: PlannedTensor, outtype: OutType) -> OutType:
    return outtype if gguf_type_for(tensor, outtype.tensor_type) is outtype.tensor_type else _F32


def _nbytes(tensor: PlannedTensor, out: OutType) -> int:
    return int(np.prod(tensor.shape, dtype=np.int64)) * out.stored_dtype.itemsize


def estimated_size(plan: tuple[PlannedTensor, ...], outtype: OutType) -> int:
    return sum(_nbytes(t, _out_type_of(t, outtype)) for t in plan) + METADATA_ALLOWANCE


def _write_data(
    stream: BinaryIO, writer: gguf.GGUFWriter, tensor: PlannedTensor, out: OutType
) -> None:
    written = 0
    for block in tensor_blocks(tensor, out):
        stream.write(np.ascontiguousarray(block).data.cast("B"))
        written += block.nbytes
    if written != _nbytes(tensor, out):
        raise QuantdeskError(f"Internal error: {tensor.gguf_name} wrote {written} bytes.")
    writer.write_padding(stream, written)


@dataclass(frozen=True, slots=True)
class ConversionPlan:
    """Everything a conversion writes, worked out from the checkpoint before any output exists.

    The full conversion and the header-only preview (:mod:`converter.preview`) both write
    their header from this, so a preview describes exactly the file the conversion makes.
    """

    name: str
    spec: ArchSpec
    hparams: HParams
    out: OutType
    tensors: tuple[PlannedTensor, ...]
    tokenizer: TokenizerSpec

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.out.level}.gguf"

    @property
    def estimated_size(self) -> int:
        return estimated_size(self.tensors, self.out)


def plan_conversion(
    source: Path, *, outtype: str | None = None, name: str | None = None
) -> ConversionPlan:
    """Read the checkpoint's headers, config and tokenizer; raise if it cannot be converted."""
    from converter.tokenizer import load_tokenizer

    source = Path(source)
    checkpoint = open_checkpoint(source)
    spec = find_architecture(checkpoint.config)
    hp = read_hparams(checkpoint.config)
    out = resolve_outtype(outtype, hp)
    tensors = plan_tensors(checkpoint, spec, hp)
    tokenizer = load_tokenizer(source, vocab_size=hp.vocab_size)
    return ConversionPlan(name or checkpoint.name, spec, hp, out, tensors, tokenizer)


def write_header(writer: gguf.GGUFWriter, conversion: ConversionPlan) -> None:
    """Metadata and every tensor's name, shape, type and size, written to ``writer``'s file."""
    out = conversion.out
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(conversion.name)
    writer.add_file_type(out.file_type)
    conversion.spec.write_metadata(writer, conversion.hparams)
    conversion.tokenizer.write_to(writer)
    for tensor in conversion.tensors:
        tensor_out = _out_type_of(tensor, out)
        writer.add_tensor_info(
            tensor.gguf_name, tensor.shape, tensor_out.stored_dtype,
            _nbytes(tensor, tensor_out), raw_dtype=tensor_out.tensor_type,
        )  # fmt: skip
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()


def convert_checkpoint(
    source: Path,
    out_dir: Path,
    *,
    outtype: str | None = None,
    name: str | None = None,
    cancel: CancelToken | None = None,
) -> Job[WrittenFile]:
    """Convert the checkpoint folder ``source`` to ``out_dir/<name>-<F16|BF16|F32>.gguf``.

    Yields one :class:`Progress` per tensor written and returns the :class:`WrittenFile`.
    """
    out_dir = Path(out_dir)
    conversion = plan_conversion(source, outtype=outtype, name=name)
    name, out, plan = conversion.name, conversion.out, conversion.tensors
    final = out_dir / conversion.file_name
    ensure_writable_folder(out_dir)
    ensure_free_space(out_dir, conversion.estimated_size, f"converting {name} to {out.level}")
    cancel = cancel or CancelToken()
    what = f"Converting {name}"
    # The first message is the one a log shows: it carries what the GGUF leaves out.
    first = "; ".join((f"writing {final.name}", *conversion.spec.notes))
    yield Progress("convert", 0, len(plan), message=first)

    with atomic_output(final) as partial:
        writer = gguf.GGUFWriter(partial, conversion.spec.name)
        try:
            write_header(writer, conversion)
            assert writer.fout is not None
            stream = writer.fout[0]
            writer.write_padding(stream, stream.tell())
            for done, tensor in enumerate(plan, start=1):
                cancel.raise_if_cancelled(what)
                _write_data(stream, writer, tensor, _out_type_of(tensor, out))
                yield Progress("convert", done, len(plan), message=tensor.gguf_name)
        finally:
            writer.close()
    return WrittenFile(
        path=final,
        level=out.level,
        size_bytes=final.stat().st_size,
        tensor_count=len(plan),
        architecture=conversion.spec.name,
    )


@dataclass(frozen=True, slots=True)
class CheckpointSummary:
    """What a checkpoint is and whether it can be converted, known before any work starts."""

    folder: Path
    hf_class: str | None
    architecture: str | None  # GGUF architecture name, None when unsupported
    supported: bool
    problem: str | None  # why it cannot be converted, as a sentence for a person
    parameter_count: int
    dtype: str  # "bfloat16", "float16", "float32"
    tokenizer_kind: str  # "sentencepiece", "tokenizer.json" or "missing"
    default_outtype: str  # "f16" or "bf16"
    estimated_f16_bytes: int
    #: Shape facts for the memory-fit estimate (0 when the config does not give them).
    n_layer: int
    n_embd: int
    n_head_kv: int
    head_dim: int
    context_length: int
    #: What the GGUF would leave out on purpose (a multimodal model's image part).
    notes: tuple[str, ...] = ()


def _tokenizer_kind(folder: Path) -> str:
    if (folder / "tokenizer.model").is_file():
        return "sentencepiece"
    return "tokenizer.json" if (folder / "tokenizer.json").is_file() else "missing"


def inspect_checkpoint(source: Path) -> CheckpointSummary:
    """Read config.json and the safetensors headers (never tensor data) and summarize.

    A folder without a readable config.json raises :class:`CheckpointError`; any other reason
    the conversion would fail is reported in ``problem`` with ``supported=False``.
    """
    source = Path(source)
    config = read_config(source)
    hp: HParams | None = None
    problem: str | None = None
    parameters = size = 0
    notes: tuple[str, ...] = ()
    architecture = None
    try:
        spec = find_architecture(config)
        architecture, notes = spec.name, spec.notes
        hp = read_hparams(config)
        checkpoint = open_checkpoint(source)
        plan = plan_tensors(checkpoint, spec, hp)
        # What the GGUF will hold: a multimodal checkpoint's image encoder is not counted.
        parameters = sum(ref.element_count for t in plan for ref in t.sources)
        size = estimated_size(plan, OUTTYPES["f16"])
        size -= METADATA_ALLOWANCE
    except QuantdeskError as exc:
        problem = str(exc)
    tokenizer_kind = _tokenizer_kind(source)
    if problem is None and tokenizer_kind == "missing":
        problem = f"{source} has neither tokenizer.json nor tokenizer.model."
    return CheckpointSummary(
        folder=source,
        hf_class=hf_class_of(config),
        architecture=architecture,
        supported=problem is None,
        problem=problem,
        parameter_count=parameters,
        dtype=hp.dtype if hp else str(config.get("dtype") or config.get("torch_dtype")),
        tokenizer_kind=tokenizer_kind,
        default_outtype=default_outtype(hp) if hp else "f16",
        estimated_f16_bytes=size,
        n_layer=hp.n_layer if hp else 0,
        n_embd=hp.n_embd if hp else 0,
        n_head_kv=hp.n_head_kv if hp else 0,
        head_dim=hp.head_dim if hp else 0,
        context_length=hp.context_length if hp else 0,
        notes=notes,
    )
