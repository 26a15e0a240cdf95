# ruff: noqa: E501 - the table reads best one level per line
"""The catalogue of quantization levels Quantdesk offers.

Figures come from llama.cpp's own published tables:

* ``bits_per_weight``: the "Bits per Weight" table for Llama 2 7B in llama.cpp's
  ``tools/quantize/README.md``; for the single-format levels (Q4_0, Q8_0, F16, BF16) it is the
  block size of the format itself (Q4_0: 18 bytes per 32 weights = 4.5 bits; Q8_0: 34 bytes
  per 32 weights = 8.5 bits).
* ``llama3_8b_gb`` and ``llama3_8b_ppl_delta``: the size and perplexity increase that
  llama.cpp's quantize tool prints for each type (``QUANT_OPTIONS`` in
  ``tools/quantize/quantize.cpp``), measured on Llama-3-8B (F16/BF16: Mistral-7B).

The IQ levels (:data:`IMATRIX_LEVELS`) can only be made with an importance matrix (the
quantizer refuses most of them without one, and the rest lose much of their quality). Their
figures come from the Llama-3.1-8B table in the same README: ``bits_per_weight`` as measured
there and ``llama3_8b_gb`` its size in GiB converted to GB. llama.cpp publishes no perplexity
increase for them, so ``llama3_8b_ppl_delta`` is None.

``ftype`` is the suffix of llama.cpp's ``LLAMA_FTYPE_MOSTLY_*`` constant; it is resolved
against ``llama_cpp`` at run time so no enum value is copied here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QuantLevel:
    name: str
    ftype: str
    bits_per_weight: float
    llama3_8b_gb: float
    llama3_8b_ppl_delta: float | None
    description: str
    needs_imatrix: bool = False


#        name      ftype     bpw   GB@L3-8B  +ppl    plain words
LEVELS: tuple[QuantLevel, ...] = (
    QuantLevel("Q2_K",   "Q2_K",   3.35, 2.96, 3.5199, "Smallest K-quant; clearly worse answers. Only when nothing else fits."),
    QuantLevel("Q3_K_S", "Q3_K_S", 3.50, 3.41, 1.6321, "Very small; noticeable quality loss."),
    QuantLevel("Q3_K_M", "Q3_K_M", 3.91, 3.74, 0.6569, "Small; some quality loss. For tight memory."),
    QuantLevel("Q3_K_L", "Q3_K_L", 4.27, 4.03, 0.5562, "Small; a little better than Q3_K_M."),
    QuantLevel("Q4_0",   "Q4_0",   4.50, 4.34, 0.4685, "Legacy 4-bit; fast on some hardware, Q4_K_M is better."),
    QuantLevel("Q4_K_S", "Q4_K_S", 4.58, 4.37, 0.2689, "Good balance, slightly smaller than Q4_K_M."),
    QuantLevel("Q4_K_M", "Q4_K_M", 4.84, 4.58, 0.1754, "Recommended default: good quality at a modest size."),
    QuantLevel("Q5_K_S", "Q5_K_S", 5.52, 5.21, 0.1049, "High quality, larger."),
    QuantLevel("Q5_K_M", "Q5_K_M", 5.68, 5.33, 0.0569, "High quality; close to the original."),
    QuantLevel("Q6_K",   "Q6_K",   6.56, 6.14, 0.0217, "Near-lossless; large."),
    QuantLevel("Q8_0",   "Q8_0",   8.50, 7.96, 0.0026, "Practically lossless; about half of F16."),
)  # fmt: skip

#        name       ftype      bpw     GB@L3.1-8B   +ppl  plain words
IMATRIX_LEVELS: tuple[QuantLevel, ...] = (
    QuantLevel("IQ2_XXS", "IQ2_XXS", 2.3824, 2.39, None, "Tiniest usable; much worse answers. Needs calibration.", True),
    QuantLevel("IQ2_XS",  "IQ2_XS",  2.5882, 2.60, None, "Tiny; much worse answers. Needs calibration.", True),
    QuantLevel("IQ2_S",   "IQ2_S",   2.7403, 2.75, None, "Tiny; clearly worse answers. Needs calibration.", True),
    QuantLevel("IQ2_M",   "IQ2_M",   2.9294, 2.94, None, "Very small; better than Q2_K at less size. Needs calibration.", True),
    QuantLevel("IQ3_XXS", "IQ3_XXS", 3.2548, 3.26, None, "Very small; some quality loss. Needs calibration.", True),
    QuantLevel("IQ3_S",   "IQ3_S",   3.6606, 3.67, None, "Small; like Q3_K_S at better quality. Needs calibration.", True),
    QuantLevel("IQ3_M",   "IQ3_M",   3.7628, 3.78, None, "Small; close to Q3_K_M, a little smaller. Needs calibration.", True),
    QuantLevel("IQ4_XS",  "IQ4_XS",  4.4597, 4.48, None, "Good quality at less than Q4_K_S's size. Needs calibration.", True),
    QuantLevel("IQ4_NL",  "IQ4_NL",  4.6818, 4.70, None, "4-bit non-linear; like Q4_K_S in size. Needs calibration.", True),
)  # fmt: skip

SOURCE_LEVELS: tuple[QuantLevel, ...] = (
    QuantLevel("F16",  "F16",  16.0, 14.00, 0.0020, "Full precision (16-bit float); the reference."),
    QuantLevel("BF16", "BF16", 16.0, 14.00, -0.0050, "Full precision (bfloat16); the reference."),
    QuantLevel("F32",  "ALL_F32", 32.0, 28.00, 0.0, "Full 32-bit precision; twice the size of F16."),
)  # fmt: skip

_BY_NAME = {level.name: level for level in LEVELS + IMATRIX_LEVELS + SOURCE_LEVELS}
_BY_FTYPE = {level.ftype: level.name for level in LEVELS + IMATRIX_LEVELS + SOURCE_LEVELS}


def level_name_of_file_type(file_type: object, fallback: str = "unknown") -> str:
    """A GGUF's ``general.file_type`` → the level's name as Quantdesk shows it (``Q4_K_M``).

    A file type outside the catalogue keeps llama.cpp's name (``Q4_1``); a value that is no
    file type at all gives ``fallback``.
    """
    from gguf import LlamaFileType  # imported on use: the catalogue itself stays light

    if isinstance(file_type, str) and file_type.isdigit():
        file_type = int(file_type)
    if not isinstance(file_type, int):
        return fallback
    try:
        name = LlamaFileType(file_type).name.removeprefix("MOSTLY_")
    except ValueError:
        return fallback
    return _BY_FTYPE.get(name, name)


def quantized_levels(*, with_imatrix: bool) -> tuple[QuantLevel, ...]:
    """The levels one can make: the K-quant ladder, plus the IQ levels with a matrix,
    smallest first."""
    if not with_imatrix:
        return LEVELS
    return tuple(sorted(LEVELS + IMATRIX_LEVELS, key=lambda lv: lv.bits_per_weight))


def level(name: str) -> QuantLevel:
    """Look a level up by name, case-insensitively; unknown names list the valid ones."""
    try:
        return _BY_NAME[name.upper()]
    except KeyError:
        valid = ", ".join(lv.name for lv in LEVELS + IMATRIX_LEVELS)
        raise ValueError(f"Unknown quantization level {name!r}. Choose from: {valid}.") from None


def parse_levels(text: str) -> tuple[QuantLevel, ...]:
    """Parse ``"Q4_K_M,Q8_0"`` (as typed on the command line) into levels, in ladder order."""
    wanted = {level(part.strip()).name for part in text.split(",") if part.strip()}
    return tuple(lv for lv in quantized_levels(with_imatrix=True) if lv.name in wanted)
