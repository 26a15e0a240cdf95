"""From a checkpoint's tensor index to the list of GGUF tensors to write, checked up front.

Planning reads no tensor data. It fails before any output exists when the checkpoint has a
tensor the architecture table does not know (a vision tower, adapter weights …), lacks one
llama.cpp requires, or has an embedding that disagrees with config.json's vocabulary size.
Mixture-of-experts checkpoints store each expert's matrices separately; they are gathered per
layer into one stacked tensor, and the number of experts must be what config.json says.
"""

from __future__ import annotations

from dataclasses import dataclass

import gguf
import numpy as np

from converter.architectures.architecture_spec import ArchSpec, TensorRule, gguf_tensor_name
from converter.architectures.hparams import HParams
from converter.architectures.multimodal import language_model_view
from converter.architectures.transforms import IDENTITY, RowTransform, resolve
from converter.checkpoint import Checkpoint, TensorRef
from converter.errors import CheckpointError

_LISTED = 4  # names quoted in an error message before "and N more"


@dataclass(frozen=True, slots=True)
class PlannedTensor:
    """One GGUF tensor: copied (and transformed) from the checkpoint, or generated.

    ``sources`` holds one checkpoint tensor, or one per expert for a stacked expert tensor;
    they are written one after another, which is exactly the stacked layout, so no stacked
    tensor is ever assembled in memory.
    """

    gguf_name: str
    shape: tuple[int, ...]  # row-major, as Hugging Face stores it (experts first if stacked)
    sources: tuple[TensorRef, ...] = ()
    transform: RowTransform = IDENTITY
    generated: np.ndarray | None = None
    f32: bool = False  # kept in float32 whatever the output type

    @property
    def is_matrix(self) -> bool:
        """Matrices take the output type; vectors (norms, biases, rope factors) stay F32."""
        return len(self.shape) >= 2 and not self.f32


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _drops_output(spec: ArchSpec, hp: HParams) -> bool:
    return bool(hp.get("tie_word_embeddings", spec.tied_by_default))


#: One layer's expert tensors for one stacked GGUF tensor, by expert number.
_Stack = dict[int, TensorRef]
_Seen = set[tuple[str, int | None, int | None]]


def plan_tensors(checkpoint: Checkpoint, spec: ArchSpec, hp: HParams) -> tuple[PlannedTensor, ...]:
    """Every tensor of the output, in checkpoint-name order, or a :class:`CheckpointError`."""
    checkpoint = language_model_view(checkpoint, spec.text_part)
    spec.check(hp)
    slots: list[PlannedTensor | tuple[TensorRule, int | None]] = []
    stacks: dict[tuple[TensorRule, int | None], _Stack] = {}
    seen: _Seen = set()
    unknown: list[str] = []
    for hf_name in sorted(checkpoint.tensors, key=_natural_key):
        ref = checkpoint.tensors[hf_name]
        if spec.is_ignored(hf_name) or (hf_name == spec.output_rule and _drops_output(spec, hp)):
            continue
        matched = spec.match(hf_name)
        if matched is None or (matched.bid is not None and matched.bid >= hp.n_layer):
            unknown.append(hf_name)
            continue
        tensor_rule, bid = matched.rule, matched.bid
        seen.add((tensor_rule.hf, bid, matched.xid))
        if matched.xid is not None:
            if (tensor_rule, bid) not in stacks:
                slots.append((tensor_rule, bid))
            stacks.setdefault((tensor_rule, bid), {})[matched.xid] = ref
            continue
        shape = ref.shape[-1:] if tensor_rule.vector else ref.shape
        slots.append(_planned(tensor_rule, bid, (ref,), shape, hf_name, hp))
    if unknown:
        raise CheckpointError(
            f"{checkpoint.name} holds tensors that a plain {spec.hf_classes[0]} does not have: "
            f"{_listing(unknown)}. It may be a multimodal, adapter or otherwise modified model, "
            "which Quantdesk cannot convert."
        )
    _check_expert_count(stacks, hp, checkpoint.name)
    _check_required(spec, hp, seen, checkpoint.name)
    _check_embedding(checkpoint, hp)
    planned = [
        slot if isinstance(slot, PlannedTensor) else _stacked(*slot, stacks[slot], hp)
        for slot in slots
    ]
    for tensor, data in spec.extra_tensors(hp):
        planned.append(
            PlannedTensor(gguf_tensor_name(tensor, None, ".weight"), data.shape, generated=data)
        )
    return tuple(planned)


def _planned(
    tensor_rule: TensorRule,
    bid: int | None,
    sources: tuple[TensorRef, ...],
    shape: tuple[int, ...],
    hf_name: str,
    hp: HParams,
) -> PlannedTensor:
    suffix = ".bias" if hf_name.endswith(".bias") else ".weight"
    return PlannedTensor(
        gguf_name=gguf_tensor_name(tensor_rule.tensor, bid, suffix),
        shape=shape,
        sources=sources,
        transform=resolve(tensor_rule.transforms, hp, sources[0]),
        f32=tensor_rule.f32,
    )


def _stacked(tensor_rule: TensorRule, bid: int | None, stack: _Stack, hp: HParams) -> PlannedTensor:
    """Experts 0 … n-1 of one layer as one tensor of shape (n_expert, rows, columns)."""
    sources = tuple(stack[xid] for xid in range(hp.n_expert))
    first = sources[0]
    for ref in sources[1:]:
        if ref.shape != first.shape:
            raise CheckpointError(
                f"{ref.name} has shape {ref.shape} but {first.name} has {first.shape}; the "
                "experts of a layer must all have the same shape. The checkpoint is damaged."
            )
    return _planned(tensor_rule, bid, sources, (len(sources), *first.shape), first.name, hp)


def _check_expert_count(
    stacks: dict[tuple[TensorRule, int | None], _Stack], hp: HParams, name: str
) -> None:
    """config.json's expert count must be the number of experts the checkpoint holds."""
    if not stacks:
        return
    held = 1 + max(xid for stack in stacks.values() for xid in stack)
    if hp.n_expert <= 0 or held != hp.n_expert:
        said = f"{hp.n_expert} experts per layer" if hp.n_expert > 0 else "no expert count"
        raise CheckpointError(
            f"config.json of {name} gives {said} (num_experts) but the checkpoint holds "
            f"{held}; the checkpoint and its config do not belong together."
        )


def _check_required(spec: ArchSpec, hp: HParams, seen: _Seen, name: str) -> None:
    missing = [
        r.hf.format(bid=bid, xid=xid)
        for r in spec.rules
        if r.required
        for bid in (range(hp.n_layer) if "{bid}" in r.hf else (None,))
        for xid in (range(hp.n_expert) if r.per_expert else (None,))
        if (r.hf, bid, xid) not in seen
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
