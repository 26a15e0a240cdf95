"""What the caller may choose when loading a model and when sampling a reply.

Frozen, keyword-only dataclasses with units in their names, so a settings object can be
passed between threads and processes (it is pickled to the worker child) without surprises.
Invalid combinations are refused here, before any process is started.
"""

from __future__ import annotations

from dataclasses import dataclass

from converter.errors import QuantdeskError
from converter.kv_cache_types import KV_CACHE_TYPES
from desktop.engine.flash_attention import flash_attention_on


class InvalidSettings(QuantdeskError):
    """A load or sampling setting is out of range or conflicts with another one."""


#: Most replies one worker generates at once (llama.cpp's limit on sequences is 256).
MAX_PARALLEL = 256
#: Most alternative tokens a reply may ask log-probabilities for at each place (OpenAI's limit).
MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadSettings:
    """How to open a model.

    ``ctx_tokens`` 0 means the context the model was trained with. ``gpu_layers`` None means
    "decide for me" (the memory-fit planner when there is GPU offload, else 0); -1 means all.
    ``threads`` None means one per physical core, as llama.cpp's tools use, except for
    generating with every layer on a GPU: one (see ``loader.generation_threads``).
    ``flash_attention`` None turns it on, on the CPU and on a GPU alike, as llama.cpp's own
    ``-fa auto`` does (see :mod:`desktop.engine.flash_attention`); False turns it off, which
    only the f16 KV cache allows (llama.cpp cannot keep a quantized V cache without it).
    ``repack_weights`` re-enables llama.cpp's CPU weight repacking, which crashes generation
    with some quantization types in this llama.cpp version.
    ``parallel`` is how many replies can be generated at once (slots, each with its own
    ``ctx_tokens`` of KV cache); more requests wait for a free slot.
    ``read_weights_in`` True reads the model file into memory (llama.cpp's ``--no-mmap``),
    False maps it (llama.cpp's default), None lets the loader choose
    (``loader.maps_model_file``). Read in, a GPU build keeps the CPU's share of the weights in
    pinned memory: with layers split between GPU and CPU, long prompts then read about three
    times as fast, and generation is a few percent slower.
    """

    ctx_tokens: int = 4096
    gpu_layers: int | None = None
    threads: int | None = None
    flash_attention: bool | None = None
    kv_type: str = "f16"
    repack_weights: bool = False
    batch_tokens: int = 512
    parallel: int = 1
    read_weights_in: bool | None = None

    def __post_init__(self) -> None:
        if self.ctx_tokens < 0:
            raise InvalidSettings(
                f"The context size must be 0 (model default) or more, not {self.ctx_tokens}."
            )
        if self.gpu_layers is not None and self.gpu_layers < -1:
            raise InvalidSettings(f"GPU layers must be -1 (all), 0 or more, not {self.gpu_layers}.")
        if self.threads is not None and self.threads < 1:
            raise InvalidSettings(f"Threads must be at least 1, not {self.threads}.")
        if self.batch_tokens < 1:
            raise InvalidSettings(
                f"The batch size must be at least 1 token, not {self.batch_tokens}."
            )
        if not 1 <= self.parallel <= MAX_PARALLEL:
            raise InvalidSettings(
                f"Parallel replies must be between 1 and {MAX_PARALLEL}, not {self.parallel}."
            )
        if self.kv_type not in KV_CACHE_TYPES:
            choices = ", ".join(KV_CACHE_TYPES)
            raise InvalidSettings(
                f"Unknown KV cache type {self.kv_type!r}; choose one of {choices}."
            )
        if self.kv_type != "f16" and self.flash_attention is False:
            raise InvalidSettings(
                f"A {self.kv_type} KV cache needs flash attention: turn flash attention on "
                "or use the f16 KV cache."
            )

    @property
    def flash_attention_on(self) -> bool:
        """The flash-attention switch llama.cpp gets (the default when none was chosen)."""
        return flash_attention_on(self.flash_attention)


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplingSettings:
    """How to pick each next token. ``temperature`` 0 is greedy; ``seed`` None is random.
    ``logit_bias``: ``(token, bias)`` pairs added to those tokens' logits before the draw
    (OpenAI's ``logit_bias``, -100 to 100; -100 all but bans a token)."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int | None = None
    max_tokens: int = 512
    logit_bias: tuple[tuple[int, float], ...] = ()

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise InvalidSettings(f"Temperature must be 0 or more, not {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise InvalidSettings(f"top_p must be in (0, 1], not {self.top_p}.")
        if self.top_k < 0:
            raise InvalidSettings(f"top_k must be 0 (off) or more, not {self.top_k}.")
        if not 0 <= self.min_p <= 1:
            raise InvalidSettings(f"min_p must be in [0, 1], not {self.min_p}.")
        if self.repeat_penalty <= 0:
            raise InvalidSettings(f"The repeat penalty must be above 0, not {self.repeat_penalty}.")
        if self.max_tokens < 1:
            raise InvalidSettings(f"max_tokens must be at least 1, not {self.max_tokens}.")
        if self.seed is not None and not 0 <= self.seed < 2**32 - 1:
            raise InvalidSettings(f"The seed must be in [0, 2**32 - 2], not {self.seed}.")
        for token, bias in self.logit_bias:
            if token < 0 or not -100 <= bias <= 100:
                raise InvalidSettings(
                    f"A logit bias needs a token id of 0 or more and a bias from -100 to 100, "
                    f"not {token}: {bias}."
                )

    @classmethod
    def greedy(cls, *, max_tokens: int = 512) -> SamplingSettings:
        """Deterministic decoding (benchmarks, tests, reproducible answers)."""
        return cls(
            temperature=0.0,
            top_k=1,
            top_p=1.0,
            min_p=0.0,
            repeat_penalty=1.0,
            max_tokens=max_tokens,
        )
