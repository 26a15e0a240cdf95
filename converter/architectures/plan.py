"""From a checkpoint's tensor index to the list of GGUF tensors to write, checked up front.

Planning reads no tensor data. It fails before any output exists when the checkpoint has a
tensor the architecture table does not know (a vision tower, adapter weights …), lacks one
llama.cpp requires, or has an embedding that disagrees with config.json's vocabulary size.
"""

from __future__ import annotations

from dataclasses import dataclass

import gguf
import numpy as np

from converter.architectures.hparams import HParams
from converter.architectures.multimodal import language_model_view
from converter.architectures.spec import ArchSpec, gguf_tensor_name
from converter.architectures.transforms import IDENTITY, RowTransform, resolve
from converter.checkpoint import Checkpoint, TensorRef
from converter.errors import CheckpointError

_LISTED = 4  # names quoted in an error message before "and N more"


@dataclass(frozen=True, slots=True)
class PlannedTensor:
    """One GGUF tensor: either copied (and transformed) from the checkpoint, or generated."""

    gguf_name: str
    shape: tuple[int, ...]  # row-major, as Hugging Face stores it
    source: TensorRef | None = None
    transform: RowTransform = IDENTITY
    generated: np.ndarray | None = None

    @property
    def is_matrix(self) -> bool:
        """Matrices take the output type; vectors (norms, biases, rope factors) stay F32."""
        return len(self.shape) >= 2


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _drops_output(spec: ArchSpec, hp: HParams) -> bool:
    return bool(hp.get("tie_word_embeddings", spec.tied_by_default))


def plan_tensors(checkpoint: Checkpoint, spec: ArchSpec, hp: HParams) -> tuple[PlannedTensor, ...]:
    """Every tensor of the output, in checkpoint-name order, or a :class:`CheckpointError`."""
    checkpoint = language_model_view(checkpoint, spec.text_part)
    planned: list[PlannedTensor] = []
    seen_rules: set[tuple[str, int | None]] = set()
    unknown: list[str] = []
    for hf_name in sorted(checkpoint.tensors, key=_natural_key):
        ref = checkpoint.tensors[hf_name]
        if spec.is_ignored(hf_name) or (hf_name == spec.output_rule and _drops_output(spec, hp)):
            continue
        matched = spec.match(hf_name)
        if matched is None or (matched[1] is not None and matched[1] >= hp.n_layer):
            unknown.append(hf_name)
            continue
        tensor_rule, bid = matched
        seen_rules.add((tensor_rule.hf, bid))
        suffix = ".bias" if hf_name.endswith(".bias") else ".weight"
        planned.append(
            PlannedTensor(
                gguf_name=gguf_tensor_name(tensor_rule.tensor, bid, suffix),
                shape=ref.shape,
                source=ref,
                transform=resolve(tensor_rule.transforms, hp, ref),
            )
        )
    if unknown:
        raise CheckpointError(
            f"{checkpoint.name} holds tensors that a plain {spec.hf_classes[0]} does not have: "
            f"{_listing(unknown)}. It may be a multimodal, adapter or otherwise modified model, "
            "which Quantdesk cannot convert."
        )
    _check_required(spec, hp, seen_rules, checkpoint.name)
    _check_embedding(checkpoint, hp)
    for tensor, data in spec.extra_tensors(hp):
        planned.append(
            PlannedTensor(gguf_tensor_name(tensor, None, ".weight"), data.shape, generated=data)
        )
    return tuple(planned)


def _check_required(
    spec: ArchSpec, hp: HParams, seen: set[tuple[str, int | None]], name: str
) -> None:
    missing = [
        r.hf.format(bid=bid)
        for r in spec.rules
        if r.required
        for bid in (range(hp.n_layer) if "{bid}" in r.hf else (None,))
        if (r.hf, bid) not in seen
    ]
    if missing:
        raise CheckpointError(
            f"The checkpoint {name} is incomplete; it lacks {_listing(missing)}. Download all "
            "of its *.safetensors files again."
        )


def _check_embedding(checkpoint: Checkpoint, hp: HParams) -> None:
    embedding = checkpoint.tensors.get("model.embed_tokens.weight")
    if embedding is not None and embedding.shape != (hp.vocab_size, hp.n_embd):
        raise CheckpointError(
            f"The token embedding of {checkpoint.name} has shape {embedding.shape} but "
            f"config.json says {hp.vocab_size} tokens of width {hp.n_embd}; the checkpoint "
            "and its config do not belong together."
        )


def _natural_key(name: str) -> tuple[object, ...]:
    """``layers.2`` before ``layers.10``: output in the order a reader expects."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in name.split("."))


def gguf_type_for(
    tensor: PlannedTensor, outtype: gguf.GGMLQuantizationType
) -> gguf.GGMLQuantizationType:
    return outtype if tensor.is_matrix else gguf.GGMLQuantizationType.F32
