"""Measure what llama.cpp really uses for a model: the reference the memory-fit is checked against.

:func:`measure_llama_memory`: a spawned child loads the model with ``open_llama`` exactly as the
inference worker does, runs one full micro-batch (so the compute buffer is touched), and reports
its resident set size and the buffer sizes llama.cpp itself logs. The log callback is installed
only in this measuring child, for calibration; the app never reads llama.cpp's log.

:func:`measure_session_peak`: the app's own inference worker runs a session (load, a prompt
that fills the context, a short reply) and the worker's peak resident size is read (Linux).
"""

from __future__ import annotations

import ctypes
import gc
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.child_process import Emit, run_in_child

MIB = 1024 * 1024
#: llama.cpp's log lines → our buffer names. Each line ends in "= <size> MiB".
_BUFFER_MARKERS = (
    ("model buffer size", "weights"),
    ("KV buffer size", "kv_cache"),
    ("RS buffer size", "kv_cache"),
    ("compute buffer size", "compute"),
    ("output buffer size", "output"),
)


@dataclass(frozen=True, slots=True)
class Measurement:
    rss_baseline: int  # the child before loading (Python + llama_cpp imported)
    rss_loaded: int  # after loading and one full micro-batch
    rss_peak: int  # the child's peak resident size over its whole life (Linux: ru_maxrss)
    buffers: dict[str, int]  # llama.cpp's own figures, bytes, summed per kind

    @property
    def rss_added(self) -> int:
        return self.rss_loaded - self.rss_baseline


def _buffer_sizes(lines: list[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for line in lines:
        for marker, kind in _BUFFER_MARKERS:
            if marker in line and line.rstrip().endswith("MiB"):
                mib = float(line.rsplit("=", 1)[1].split()[0])
                sizes[kind] = sizes.get(kind, 0) + round(mib * MIB)
    return sizes


def _measure_child(
    emit: Emit, model_path: str, fill_tokens: int, llama_kwargs: dict[str, Any]
) -> Measurement:
    import llama_cpp
    import psutil

    from desktop.engine.llama_loading import open_llama

    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def collect(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        lines.append(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
    process = psutil.Process()
    gc.collect()
    baseline = process.memory_info().rss
    llm = open_llama(model_path, **llama_kwargs)
    n_ubatch = min(llm.n_ctx(), llama_kwargs.get("n_ubatch", 512), llama_kwargs.get("n_batch", 512))
    llm.eval([3 + i % 200 for i in range(max(n_ubatch, min(fill_tokens, llm.n_ctx())))])
    loaded = process.memory_info().rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = Measurement(baseline, loaded, peak, _buffer_sizes("".join(lines).splitlines()))
    llm.close()
    return result


def measure_llama_memory(
    model_path: Path, *, fill_tokens: int = 0, **llama_kwargs: Any
) -> Measurement:
    """Load ``model_path`` in a fresh child with ``llama_kwargs`` and measure it.

    ``fill_tokens`` evaluates that many tokens (at least one micro-batch) so the attention
    buffers reach their size at a full context.
    """
    llama_kwargs.setdefault("n_threads", 2)
    return run_in_child(
        _measure_child,
        str(model_path),
        fill_tokens,
        llama_kwargs,
        what=f"Measuring {model_path.name}",
    )


#: Tokens the session's reply generates after the context-filling prompt.
REPLY_TOKENS = 8
_WORDS = ("memory", "river", "lamp", "quiet", "orange", "window", "seven", "travel")


@dataclass(frozen=True, slots=True)
class SessionPeak:
    peak_rss: int  # the worker's peak resident size over the session (VmHWM), bytes
    prompt_tokens: int
    seconds: float


def filling_prompt(model_path: Path, n_tokens: int) -> str:
    """Plain text that the model's tokenizer turns into ``n_tokens`` tokens or a few fewer."""
    import llama_cpp

    vocab = llama_cpp.Llama(str(model_path), vocab_only=True, verbose=False)
    try:
        words = " ".join(f"{_WORDS[i % len(_WORDS)]} {i}" for i in range(n_tokens))
        tokens = vocab.tokenize(words.encode(), add_bos=False)[:n_tokens]
        text = vocab.detokenize(tokens).decode("utf-8", errors="ignore")
        while len(vocab.tokenize(text.encode(), add_bos=False)) > n_tokens:
            text = text.rsplit(" ", 1)[0]
        return text
    finally:
        vocab.close()


def _peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) * 1024


def measure_session_peak(
    model_path: Path, *, ctx_tokens: int, kv_type: str, flash_attention: bool | None = None
) -> SessionPeak:
    """Peak RSS of the app's worker over one session: load with the app's settings for this
    context and KV type (2 threads; flash attention as the app picks it unless given), a prompt
    filling the context but for the reply, a reply of :data:`REPLY_TOKENS` tokens (Linux only:
    the peak is read from ``/proc``)."""
    from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings

    prompt = filling_prompt(model_path, ctx_tokens - REPLY_TOKENS - 1)  # the worker adds BOS
    started = time.perf_counter()
    with InferenceWorker() as worker:
        settings = LoadSettings(
            ctx_tokens=ctx_tokens, kv_type=kv_type, threads=2, flash_attention=flash_attention
        )
        worker.load(model_path, settings)
        stats = worker.complete(
            prompt, SamplingSettings.greedy(max_tokens=REPLY_TOKENS), on_token=lambda _: None
        )
        pid = worker.pid
        assert pid is not None, "the worker ended during the session"
        peak = _peak_rss(pid)
    return SessionPeak(peak, stats.prompt_tokens, time.perf_counter() - started)
