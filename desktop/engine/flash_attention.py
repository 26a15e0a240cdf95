"""The one place the app decides whether llama.cpp runs attention with flash attention.

Loading (chat, the local API server), compare's measurements (``open_llama``'s default), the
fit verdict and the RAM/VRAM predictions all ask :func:`flash_attention_on`, so a prediction is
always made for the setting the worker loads with.

The default follows llama.cpp's own ``-fa auto`` (``llama-server``, ``llama-cli``): on wherever
the backend holding the KV cache supports it. Both backends this app runs on do, for every KV
cache type it offers: the CPU backend and CUDA. Measured gains: +10% prompt and +8% generation
fully offloaded on an H100; +13% for 16 replies at once on a 2-core CPU with no loss for one
reply (docs/benchmarks.md). A quantized V cache cannot work without it (llama.cpp refuses), so
an explicit "off" is only allowed with the f16 cache; that check lives in ``LoadSettings``.
"""

from __future__ import annotations

#: What "decide for me" means: on, on the CPU and on a GPU alike.
DEFAULT_FLASH_ATTENTION = True


def flash_attention_on(requested: bool | None) -> bool:
    """The switch llama.cpp gets: the caller's choice, or the default when there is none."""
    return DEFAULT_FLASH_ATTENTION if requested is None else requested
