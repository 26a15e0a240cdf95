"""Llama 2/3/3.x, Mistral, TinyLlama, SmolLM2: llama.cpp's ``llama`` architecture.

llama.cpp's LLAMA graph uses the original paired rope layout, so the query and key rows are
permuted from Hugging Face's rotate-half layout. Llama 3.1's ``llama3`` rope scaling is not a
formula llama.cpp evaluates: it reads per-frequency factors from a ``rope_freqs`` tensor.
"""

from __future__ import annotations

import math

import gguf
import numpy as np

from converter.architectures.architecture_spec import ArchSpec
from converter.architectures.decoder import ROPE_CACHES, decoder_rules
from converter.architectures.hparams import HParams
from converter.architectures.metadata import check_rope_scaling, write_common

ROPE_SCALINGS = ("default", "linear", "yarn", "llama3")


def write_metadata(writer: gguf.GGUFWriter, hp: HParams) -> None:
    check_rope_scaling(hp, ROPE_SCALINGS)
    write_common(writer, hp)


def llama3_rope_factors(hp: HParams) -> np.ndarray:
    """Per-frequency divisors of Llama 3.1's scaling, as llama.cpp's ``rope_freqs`` wants.

    Long wavelengths (beyond ``original / low_freq_factor``) are slowed by ``factor``, short
    ones (below ``original / high_freq_factor``) kept, and those between blended smoothly.

    Computed in float32, step for step as llama.cpp's converter does it in torch (whose
    ``a / tensor`` is ``tensor.reciprocal() * a``), so the tensor is bit-identical to the
    reference's; only the power is taken in float64 and rounded, where torch's vectorised
    float32 power can differ in the last bit (for the head sizes of Llama 3.x it does not).
    """
    f32 = np.float32
    params = hp.rope.params
    factor = f32(params.get("factor", 8.0))
    low = f32(params.get("low_freq_factor", 1.0))
    high = f32(params.get("high_freq_factor", 4.0))
    original = f32(params.get("original_max_position_embeddings", 8192))
    dim = hp.head_dim
    exponents = np.arange(0, dim, 2, dtype=f32) / f32(dim)
    powers = np.power(np.float64(hp.rope.theta), exponents.astype(np.float64)).astype(f32)
    frequencies = f32(1) / powers
    wavelengths = (f32(1) / frequencies) * f32(2 * math.pi)
    with np.errstate(divide="ignore", invalid="ignore"):  # high == low leaves no blend band
        smooth = ((f32(1) / wavelengths) * original - low) / (high - low)
        blended = f32(1) / ((f32(1) - smooth) / factor + smooth)
    factors = np.where(
        wavelengths < original / high,
        f32(1),
        np.where(wavelengths > original / low, factor, blended),
    )
    return factors.astype(f32)


def extra_tensors(hp: HParams) -> tuple[tuple[gguf.MODEL_TENSOR, np.ndarray], ...]:
    if hp.rope.scaling_type == "llama3":
        return ((gguf.MODEL_TENSOR.ROPE_FREQS, llama3_rope_factors(hp)),)
    return ()


LLAMA = ArchSpec(
    gguf_arch=gguf.MODEL_ARCH.LLAMA,
    hf_classes=("LlamaForCausalLM", "MistralForCausalLM"),
    model_types=("llama", "mistral"),
    rules=decoder_rules(q=("rope_permute_q",), k=("rope_permute_k",)),
    write_metadata=write_metadata,
    extra_tensors=extra_tensors,
    ignored=ROPE_CACHES,
)
