"""The shapes of a GGUF model that decide its memory use, summarised from its header.

Per-architecture knowledge (which layers use a sliding window) mirrors what llama.cpp's model
loader assumes when a file does not spell it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from converter.gguf_header import ArrayLength, GGUFHeader, GGUFHeaderError, read_gguf_header

#: Architectures whose layers alternate sliding-window and full attention, and the pattern
#: llama.cpp assumes when the file does not say: (period, dense_first). With dense_first False
#: the last layer of each period is the full-attention one (gemma3: 5 local, 1 global).
SWA_DEFAULT_PATTERNS: Mapping[str, tuple[int, bool]] = MappingProxyType(
    {
        "gemma2": (2, False),
        "gemma3": (6, False),
        "gemma3n": (5, False),
        "gemma-embedding": (6, False),
        "cohere2": (4, False),
        "llama4": (4, False),
        "olmo2": (4, False),
        "exaone4": (4, False),
        "gpt-oss": (2, False),
    }
)
#: gemma2 files written before the key existed use this window.
_SWA_DEFAULT_WINDOW: Mapping[str, int] = MappingProxyType({"gemma2": 4096})
_OUTPUT_TENSORS = frozenset(
    {"output.weight", "output_norm.weight", "output_norm.bias", "output.bias"}
)


@dataclass(frozen=True, slots=True)
class GGUFSummary:
    """The shapes that decide memory use: per-layer weights, attention geometry, vocabulary."""

    header: GGUFHeader
    n_layer: int
    n_embd: int
    n_vocab: int
    n_ctx_train: int
    n_head: int
    n_head_kv: tuple[int, ...]  # per layer (GQA; 0 for layers without attention)
    head_dim_k: int
    head_dim_v: int
    n_ff: int
    n_swa: int  # sliding window in tokens; 0 = none
    swa_layers: tuple[bool, ...]  # per layer: True when the layer uses the sliding window
    layer_bytes: tuple[int, ...]  # weights of each repeating block
    token_embd_bytes: int
    output_bytes: int  # output.weight + output_norm (0 for output.weight when tied)
    tied_embeddings: bool  # no output.weight: llama.cpp reuses token_embd as the output
    other_bytes: int  # other tensors outside the blocks (rope factors …), kept with the input

    @property
    def path(self) -> Path:
        return self.header.path

    @property
    def architecture(self) -> str:
        return self.header.architecture

    @property
    def weight_bytes(self) -> int:
        return sum(self.layer_bytes) + self.token_embd_bytes + self.output_bytes + self.other_bytes

    @property
    def is_complete(self) -> bool:
        return self.header.is_complete


def _int(header: GGUFHeader, key: str, default: int) -> int:
    value = header.arch_value(key)
    if isinstance(value, tuple):
        return int(max(value)) if value else default
    return default if value is None or isinstance(value, ArrayLength) else int(value)


def _per_layer(header: GGUFHeader, key: str, default: int, n_layer: int) -> tuple[int, ...]:
    value = header.arch_value(key)
    if isinstance(value, tuple) and len(value) == n_layer:
        return tuple(int(v) for v in value)
    return (_int(header, key, default),) * n_layer


def _swa_layers(header: GGUFHeader, n_layer: int, n_swa: int) -> tuple[bool, ...]:
    if n_swa <= 0:
        return (False,) * n_layer
    pattern = header.arch_value("attention.sliding_window_pattern")
    if isinstance(pattern, tuple) and len(pattern) == n_layer:
        return tuple(bool(v) for v in pattern)
    period, dense_first = SWA_DEFAULT_PATTERNS.get(header.architecture, (0, False))
    if isinstance(pattern, int) and not isinstance(pattern, bool):
        period = pattern
    if period == 0:
        return (True,) * n_layer
    if dense_first:
        return tuple(i % period != 0 for i in range(n_layer))
    return tuple(i % period < period - 1 for i in range(n_layer))


def summarize(header: GGUFHeader) -> GGUFSummary:
    """Turn a parsed header into the figures the memory model needs."""
    n_layer = _int(header, "block_count", 0)
    if n_layer <= 0:
        raise GGUFHeaderError(
            f"{header.path.name} does not say how many layers it has "
            f"({header.architecture}.block_count); it is not a language model Quantdesk can size."
        )
    n_embd = _int(header, "embedding_length", 0)
    n_head = _int(header, "attention.head_count", 1) or 1
    n_head_kv = _per_layer(header, "attention.head_count_kv", n_head, n_layer)
    head_dim_k = _int(header, "attention.key_length", n_embd // n_head)
    head_dim_v = _int(header, "attention.value_length", n_embd // n_head)
    tokens = header.metadata.get("tokenizer.ggml.tokens")
    by_name = {t.name: t for t in header.tensors}
    token_embd = by_name.get("token_embd.weight")
    n_vocab = _int(header, "vocab_size", 0) or (
        tokens.length
        if isinstance(tokens, ArrayLength)
        else len(tokens)
        if isinstance(tokens, tuple)
        else 0
    )
    if not n_vocab and token_embd is not None:
        n_vocab = token_embd.shape[-1]
    arch = header.architecture
    n_swa = _int(header, "attention.sliding_window", _SWA_DEFAULT_WINDOW.get(arch, 0))
    if (
        arch not in SWA_DEFAULT_PATTERNS
        and header.arch_value("attention.sliding_window_pattern") is None
    ):
        n_swa = 0  # a window without a layer pattern is not used as an interleaved cache
    layer_bytes = [0] * n_layer
    token_embd_bytes = output_bytes = other_bytes = 0
    for tensor in header.tensors:
        layer = tensor.layer
        if layer is not None and layer < n_layer:
            layer_bytes[layer] += tensor.n_bytes
        elif tensor.name == "token_embd.weight":
            token_embd_bytes += tensor.n_bytes
        elif tensor.name in _OUTPUT_TENSORS:
            output_bytes += tensor.n_bytes
        else:
            other_bytes += tensor.n_bytes
    return GGUFSummary(
        header=header,
        n_layer=n_layer,
        n_embd=n_embd,
        n_vocab=n_vocab,
        n_ctx_train=_int(header, "context_length", 0),
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=head_dim_k,
        head_dim_v=head_dim_v,
        n_ff=_int(header, "feed_forward_length", 4 * n_embd),
        n_swa=n_swa,
        swa_layers=_swa_layers(header, n_layer, n_swa),
        layer_bytes=tuple(layer_bytes),
        token_embd_bytes=token_embd_bytes,
        output_bytes=output_bytes,
        tied_embeddings="output.weight" not in by_name,
        other_bytes=other_bytes,
    )


def read_gguf_summary(path: Path | str) -> GGUFSummary:
    """:func:`read_gguf_header` + :func:`summarize`."""
    return summarize(read_gguf_header(path))
