"""Which ggml type llama.cpp's quantizer picks for each tensor, so sizes are known beforehand.

A K-quant level is a *mix*: llama.cpp keeps 1-D tensors as they are, gives the output matrix
Q6_K, spends more bits on some attention-V and FFN-down layers, and falls back to a 32-block
type when a row length is not a multiple of 256. The rules below restate
``llama_tensor_get_type`` in llama.cpp's ``src/llama-quant.cpp`` (as shipped with
llama-cpp-python 0.3.36) for the levels Quantdesk offers, including the IQ levels, with or
without an importance matrix (a few rules depend on having one). Mixture-of-experts special
cases (8 experts) and the Falcon and 70B exceptions are included.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from converter.gguf_header import GGUFHeader, TensorInfo
from converter.levels import QuantLevel
from converter.model_summary import GGUFSummary, summarize

#: The base ggml type of each file type (``llama_ftype_get_default_type``).
DEFAULT_TYPES: Mapping[str, str] = MappingProxyType(
    {"Q2_K": "Q2_K", "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K", "Q4_0": "Q4_0",
     "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K", "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K", "Q6_K": "Q6_K",
     "Q8_0": "Q8_0", "F16": "F16", "BF16": "BF16", "ALL_F32": "F32",
     "IQ2_XXS": "IQ2_XXS", "IQ2_XS": "IQ2_XS", "IQ2_S": "IQ2_XS", "IQ2_M": "IQ2_S",
     "IQ3_XXS": "IQ3_XXS", "IQ3_S": "IQ3_S", "IQ3_M": "IQ3_S", "IQ4_NL": "IQ4_NL",
     "IQ4_XS": "IQ4_XS"}
)  # fmt: skip
#: When a row does not divide into the chosen type's blocks (``tensor_type_fallback``).
FALLBACK_TYPES: Mapping[str, str] = MappingProxyType(
    {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0",
     "IQ2_XXS": "IQ4_NL", "IQ2_XS": "IQ4_NL", "IQ2_S": "IQ4_NL", "IQ3_XXS": "IQ4_NL",
     "IQ3_S": "IQ4_NL", "IQ4_XS": "IQ4_NL"}
)  # fmt: skip
#: File types whose output matrix is Q5_K rather than Q6_K, and the IQ2 family's own rules.
_OUTPUT_Q5_K = frozenset({"IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ2_S", "IQ2_M"})
_IQ2_FAMILY = frozenset({"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M"})
_IQ2_S_OR_M = frozenset({"IQ2_S", "IQ2_M"})
#: Substrings of 2-D weights the quantizer never touches (norms, routers, small tables).
_NEVER_QUANTIZED = ("_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj",  # noqa: E501
                    "ssm_conv1d", "shortconv.conv.weight", "time_mix_", "attn_rel_b.weight",
                    "position_embd", "token_types.weight")  # fmt: skip
_FLOAT_TYPES = frozenset({"F32", "F16", "BF16", "F64"})


def _block_size(type_name: str) -> int:
    return GGML_QUANT_SIZES[GGMLQuantizationType[type_name]][0]


def _category(name: str) -> str:
    if name == "output.weight":
        return "output"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for marker, category in (("attn_qkv.weight", "attn_qkv"), ("attn_kv_b.weight", "attn_kv_b"),
                             ("attn_v.weight", "attn_v"), ("attn_k.weight", "attn_k"),
                             ("attn_q.weight", "attn_q"), ("attn_output.weight", "attn_output"),
                             ("ffn_up", "ffn_up"), ("ffn_gate", "ffn_gate"),
                             ("ffn_down", "ffn_down")):  # fmt: skip
        if marker in name:
            return category
    return "other"


def _allows_quantization(tensor: TensorInfo) -> bool:
    return (
        len(tensor.shape) >= 2
        and tensor.name.endswith("weight")
        and not any(marker in tensor.name for marker in _NEVER_QUANTIZED)
    )


def _use_more_bits(i_layer: int, n_layers: int) -> bool:
    eighth = n_layers // 8
    return i_layer < eighth or i_layer >= 7 * n_layers // 8 or (i_layer - eighth) % 3 == 2


class _MixState:
    """The counters llama.cpp keeps while it walks the tensors in its loading order."""

    def __init__(self, summary: GGUFSummary, ftype: str, has_imatrix: bool) -> None:
        self.ftype = ftype
        self.has_imatrix = has_imatrix
        self.arch = summary.architecture
        self.n_layer = summary.n_layer
        self.n_expert = int(summary.header.arch_value("expert_count", 0) or 0)  # type: ignore[arg-type]
        n_head_kv = max(summary.n_head_kv) or 1
        self.n_gqa = summary.n_head // n_head_kv
        self.is_70b = self.arch == "llama" and self.n_layer == 80 and summary.n_head != n_head_kv
        self.n_attention_wv = sum(
            _category(t.name) in ("attn_v", "attn_qkv", "attn_kv_b") for t in summary.header.tensors
        )
        self.tied = summary.tied_embeddings
        self.i_attention_wv = self.i_ffn_down = 0

    def choose(self, tensor: TensorInfo, new_type: str) -> str:
        category, ft, n = _category(tensor.name), self.ftype, self.n_layer
        if category == "output" or (self.tied and category == "token_embd"):
            if self.arch == "falcon" or tensor.shape[0] % _block_size(new_type) != 0:
                return "Q8_0"
            if ft in _OUTPUT_Q5_K:
                return "Q5_K"
            return new_type if new_type == "Q8_0" else "Q6_K"
        if category == "token_embd":
            if ft in ("IQ2_XXS", "IQ2_XS"):
                return "Q2_K"
            return "IQ3_S" if ft in ("IQ2_S", "IQ2_M", "IQ3_XXS") else new_type
        if ft in _IQ2_FAMILY:
            return self._choose_iq2(category, new_type)
        if category in ("attn_v", "attn_qkv", "attn_kv_b"):
            i = self.i_attention_wv
            self.i_attention_wv += 1
            if category == "attn_qkv" and ft in ("Q3_K_M", "Q3_K_L", "Q4_K_M", "Q5_K_M", "IQ3_M"):
                return {"Q4_K_M": "Q5_K", "Q5_K_M": "Q6_K"}.get(ft, "Q4_K")
            if ft == "Q2_K":
                new_type = "Q4_K" if self.n_gqa >= 4 else "Q3_K"
            elif ft == "IQ3_XXS":
                new_type = (
                    "Q4_K" if self.n_gqa >= 4 else ("IQ3_XXS" if self.has_imatrix else "IQ3_S")
                )
            elif (ft == "IQ3_S" and self.n_gqa >= 4) or ft == "IQ3_M":
                new_type = "Q4_K"
            elif ft in ("IQ4_NL", "IQ4_XS") and self.n_gqa >= 4:
                new_type = "Q5_K"
            elif ft == "Q3_K_M":
                new_type = "Q5_K" if i < 2 else "Q4_K"
            elif ft == "Q3_K_L":
                new_type = "Q5_K"
            elif ft in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, self.n_attention_wv):
                new_type = "Q6_K"
            elif ft == "Q4_K_S" and i < 4:
                new_type = "Q5_K"
            if self.is_70b and new_type in ("Q3_K", "Q4_K"):
                new_type = "Q5_K"
            return "Q8_0" if self.n_expert == 8 else new_type
        if category == "attn_k":
            if self.n_expert == 8:
                return "Q8_0"
            return "IQ2_S" if ft == "IQ3_XXS" else new_type
        if category == "attn_q":
            return "IQ2_S" if ft == "IQ3_XXS" else new_type
        if category == "ffn_down":
            i = self._layer_of(tensor, self.i_ffn_down)
            self.i_ffn_down += 1
            falcon = self.arch == "falcon"
            if ft == "Q2_K":
                return "Q3_K"
            if ft == "IQ3_XXS" and not self.has_imatrix:
                return "Q4_K" if i < n // 8 else "Q3_K"
            if ft == "IQ3_M":
                more = i < n // 8 or (self.n_expert == 8 and _use_more_bits(i, n))
                return "Q4_K" if more else new_type
            if ft in ("IQ4_NL", "IQ4_XS"):
                return "Q5_K" if i < n // 8 and not self.has_imatrix else new_type
            if ft == "Q4_0" and self.has_imatrix and i < n // 8:
                return "Q4_1"
            if ft == "Q3_K_M":
                return (
                    "Q5_K"
                    if i < n // 16
                    else ("Q4_K" if not falcon or _use_more_bits(i, n) else "Q3_K")
                )
            if ft == "Q3_K_L":
                return "Q4_K" if falcon else "Q5_K"
            if ft == "Q4_K_M":
                if falcon:
                    return "Q6_K" if i < n // 16 else ("Q5_K" if _use_more_bits(i, n) else "Q4_K")
                return "Q6_K" if _use_more_bits(i, n) else new_type
            if ft == "Q5_K_M" and _use_more_bits(i, n):
                return "Q6_K"
            if ft == "Q4_K_S" and not falcon and i < n // 8:
                return "Q5_K"
            return new_type
        if category == "attn_output":
            if self.arch == "falcon":
                return "Q4_K" if ft == "Q3_K_L" else new_type
            if self.n_expert == 8:
                moe_bump = ("Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M", "IQ3_XXS",
                            "IQ4_NL", "IQ3_S", "IQ3_M", "IQ4_XS")  # fmt: skip
                return "Q5_K" if ft in moe_bump else new_type
            bumps = {"Q2_K": "Q3_K", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_XXS": "IQ3_S",
                     "IQ3_M": "Q4_K"}  # fmt: skip
            return bumps.get(ft, new_type)
        return new_type

    def _choose_iq2(self, category: str, new_type: str) -> str:
        """The IQ2 family's rules (``IQ2_XXS`` … ``IQ2_M``), which llama.cpp checks first."""
        s_or_m = self.ftype in _IQ2_S_OR_M
        if category in ("attn_v", "attn_qkv", "attn_kv_b"):
            self.i_attention_wv += 1
            if self.n_gqa >= 4 or self.n_expert >= 4:
                return "Q4_K"
            return "IQ3_S" if s_or_m else "Q2_K"
        if category == "attn_k" and self.n_expert == 8:
            return "Q4_K"
        if category == "ffn_down":
            i = self.i_ffn_down  # a counter here, never the layer of the name
            self.i_ffn_down += 1
            if i < self.n_layer // 8:
                return "IQ3_S" if s_or_m else "Q2_K"
            return new_type
        if category == "attn_output":
            if self.n_expert == 8:
                return "Q5_K"
            return "IQ3_S" if s_or_m else new_type
        return new_type

    def _layer_of(self, tensor: TensorInfo, counter: int) -> int:
        """Experts are not stored in layer order, so MoE models take the layer from the name."""
        if self.n_expert > 1 and tensor.layer is not None:
            return tensor.layer
        return counter


def _fallback(tensor: TensorInfo, type_name: str) -> str:
    row = tensor.shape[0]
    if row % _block_size(type_name) == 0:
        return type_name
    fallback = FALLBACK_TYPES.get(type_name, type_name)
    return fallback if row % _block_size(fallback) == 0 else "F16"


def _loading_order(tensor: TensorInfo) -> tuple[int, str]:
    """llama.cpp's ``weight_name_comparer``: by block (non-block tensors first), then name."""
    layer = tensor.layer
    return (-1 if layer is None else layer, tensor.name)


def predict_tensor_types(
    summary: GGUFSummary, level: QuantLevel, *, has_imatrix: bool = False
) -> dict[str, str]:
    """Tensor name → the ggml type llama.cpp will write for ``level``.

    IQ levels are predicted with an importance matrix whatever ``has_imatrix`` says: they are
    only ever made with one.
    """
    default = DEFAULT_TYPES[level.ftype]
    state = _MixState(summary, level.ftype, has_imatrix or level.needs_imatrix)
    quantized = default not in _FLOAT_TYPES
    types: dict[str, str] = {}
    for tensor in sorted(summary.header.tensors, key=_loading_order):
        if not _allows_quantization(tensor):
            types[tensor.name] = tensor.type_name
        elif not quantized:
            types[tensor.name] = default
        else:
            types[tensor.name] = _fallback(tensor, state.choose(tensor, default))
    return types


def quantized_summary(
    summary: GGUFSummary, level: QuantLevel, *, has_imatrix: bool = False
) -> GGUFSummary:
    """The summary the file quantized to ``level`` will have (same header, new tensor types)."""
    types = predict_tensor_types(summary, level, has_imatrix=has_imatrix)
    tensors = tuple(dataclasses.replace(t, type_name=types[t.name]) for t in summary.header.tensors)
    header = dataclasses.replace(
        summary.header, tensors=tensors, header_bytes=_quantized_header_bytes(summary.header)
    )
    return summarize(header)


def _quantized_header_bytes(header: GGUFHeader) -> int:
    """The quantizer copies the metadata and adds ``general.quantization_version`` (and
    ``general.file_type``) when absent: each a u32 value after its key."""
    added = sum(
        8 + len(key) + 4 + 4
        for key in ("general.quantization_version", "general.file_type")
        if key not in header.metadata
    )
    unaligned = header.header_bytes + added
    # header_bytes was already padded; recompute padding conservatively for the added keys
    return (unaligned + header.alignment - 1) // header.alignment * header.alignment


def predict_quantized_size(
    summary: GGUFSummary, level: QuantLevel, *, has_imatrix: bool = False
) -> int:
    """Bytes of the GGUF file llama.cpp writes when quantizing ``summary``'s model to ``level``."""
    quantized = quantized_summary(summary, level, has_imatrix=has_imatrix)
    return quantized.header.header_bytes + quantized.header.data_bytes
