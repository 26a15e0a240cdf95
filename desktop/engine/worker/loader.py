"""Opening a GGUF in the worker child and describing what was opened.

Runs only in the child process. Every way a load can fail that llama.cpp reports (missing
file, not a GGUF, corrupt or truncated data, no memory for the context) becomes a
:class:`ModelLoadError` that says what to do; a crash kills the child and the parent turns
that into the same error class (see ``client.py``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from converter.errors import Cancelled, ModelLoadError
from converter.gguf_shards import model_bytes, model_name
from converter.huge_pages import malloc_uses_huge_pages
from converter.kv_cache_types import KV_CACHE_TYPES
from converter.levels import level_name_of_file_type
from desktop.engine.hardware import default_threads
from desktop.engine.llama_loading import open_llama
from desktop.engine.worker.chat_format import template_for
from desktop.engine.worker.embedding import is_embedding_model
from desktop.engine.worker.results import LoadInfo, ModelInfo
from desktop.engine.worker.settings import LoadSettings

GGUF_MAGIC = b"GGUF"
EMBEDDING_MODEL_NOTE = (
    "This is an embedding model: it turns text into vectors (the local API's /v1/embeddings) "
    "and writes no replies."
)
#: Progress events are sent at most this often (in fraction of the load).
_PROGRESS_STEP = 0.01
#: Largest share of the available memory a model file may take to be read in, not mapped.
_READ_IN_SHARE = 0.75
_KEPT_MAPPED_NOTE = (
    "The model file stays mapped instead of read into memory: it would take more than three "
    "quarters of the memory available now."
)


def check_gguf_file(path: Path) -> None:
    """Refuse early, with a precise message, what llama.cpp would refuse vaguely."""
    if not path.is_file():
        raise ModelLoadError(f"{path} does not exist or is not a file.")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    if magic != GGUF_MAGIC:
        raise ModelLoadError(
            f"{path.name} is not a GGUF model file. Convert the checkpoint to GGUF first "
            "(quantdesk convert)."
        )


def resolve_gpu_layers(path: Path, settings: LoadSettings) -> tuple[int, tuple[str, ...]]:
    """How many layers to offload, and a note when that is not what was asked for."""
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        if settings.gpu_layers:
            return 0, ("This llama.cpp build cannot use a GPU; the model runs on the CPU.",)
        return 0, ()
    if settings.gpu_layers is not None:
        return settings.gpu_layers, ()
    return _planned_gpu_layers(path, settings)


def _planned_gpu_layers(path: Path, settings: LoadSettings) -> tuple[int, tuple[str, ...]]:
    """Ask the memory-fit planner how many layers fit in free VRAM (at the chosen context)."""
    from converter.model_summary import read_gguf_summary
    from desktop.engine.fit_planner import plan_fit
    from desktop.engine.hardware import probe_hardware

    try:
        summary = read_gguf_summary(path)
        plan = plan_fit(
            summary,
            probe_hardware(),
            ctx_tokens=(settings.ctx_tokens or summary.n_ctx_train) * settings.parallel,
            kv_type=settings.kv_type,
            flash_attention=settings.flash_attention_on,
            sequences=settings.parallel,
        )
    except Exception as exc:  # a planning failure must not stop the load
        return 0, (f"Could not plan GPU offload ({exc}); loading on the CPU.",)
    if plan.verdict == "wont_fit":
        return plan.gpu_layers, (plan.explanation,)
    return plan.gpu_layers, ()


def generation_threads(path: Path, settings: LoadSettings, gpu_layers: int) -> int:
    """CPU threads for decoding one token at a time: the user's count when set; one when every
    layer is on the GPU; else one per physical core.

    With every layer offloaded, the CPU's part of a token is looking up its embedding row, yet
    llama.cpp wakes the whole CPU thread pool for it, and the pool's threads then spin beside
    the thread that reads the logits and draws the next token. On an H200 host (8 physical
    cores, Llama-3-8B Q8_0) one thread took the host time inside ``llama_decode`` from 120 to
    86 µs and the time from the logits to the next decode from 42 to 28 µs. Prompts and
    batches of several replies keep one thread per core (``n_threads_batch``)."""
    if settings.threads:
        return settings.threads
    if gpu_layers < 0 or (gpu_layers > 0 and gpu_layers > _block_count(path)):
        return 1
    return default_threads()


def maps_model_file(path: Path, read_in: bool | None = None) -> bool:
    """Whether llama.cpp maps the file (its default) rather than reading it into memory.

    ``read_in`` is the user's choice (:class:`LoadSettings`); None maps the file unless this
    process's allocator gets huge pages: then the weights are read into memory
    (:mod:`converter.huge_pages`). A build that can offload to a GPU maps by default: reading
    in, llama.cpp puts the CPU's share of the weights in the GPU driver's pinned host memory,
    not in huge pages, which speeds up long prompts but slows generation a little
    (docs/benchmarks.md). Either way a file that would take more than three quarters of the
    available memory stays mapped: the OS can then page its weights in and out (slowly)
    where memory read in would get the worker killed."""
    import llama_cpp

    if read_in is False:
        return True
    if read_in is None and (llama_cpp.llama_supports_gpu_offload() or not malloc_uses_huge_pages()):
        return True
    return _too_big_to_read_in(path)


def _too_big_to_read_in(path: Path) -> bool:
    import psutil

    return model_bytes(path) > psutil.virtual_memory().available * _READ_IN_SHARE


def _block_count(path: Path) -> int:
    from converter.model_summary import read_gguf_summary

    try:
        return read_gguf_summary(path).n_layer
    except Exception:  # llama.cpp's own load reports a bad file better
        return 1 << 30


def load_model(
    path: Path,
    settings: LoadSettings,
    *,
    on_progress: Callable[[float], None],
    cancelled: Callable[[], bool],
) -> tuple[Any, LoadInfo]:
    """Open ``path`` and return ``(llama, info)``; raise ModelLoadError or Cancelled."""
    started = time.perf_counter()
    check_gguf_file(path)
    gpu_layers, notes = resolve_gpu_layers(path, settings)
    last_sent = -1.0

    def progress(fraction: float) -> bool:
        nonlocal last_sent
        if fraction >= 1.0 or fraction - last_sent >= _PROGRESS_STEP:
            last_sent = fraction
            on_progress(fraction)
        return not cancelled()

    kv_type_id = KV_CACHE_TYPES[settings.kv_type].ggml_type_id
    # llama-cpp-python's own default would be half the logical CPUs for generation and all of
    # them for prompts: one thread on a 2-core machine, and spinning hyper-threads on a GPU host.
    threads = settings.threads or default_threads()
    mapped = maps_model_file(path, settings.read_weights_in)
    if settings.read_weights_in and mapped:
        notes = (*notes, _KEPT_MAPPED_NOTE)
    try:
        llama = open_llama(
            path,
            repack_weights=settings.repack_weights,
            on_progress=progress,
            sequences=settings.parallel,
            n_ctx=_total_ctx_tokens(path, settings),
            n_batch=settings.batch_tokens,
            n_gpu_layers=gpu_layers,
            n_threads=generation_threads(path, settings, gpu_layers),
            n_threads_batch=threads,
            flash_attn=settings.flash_attention_on,
            type_k=kv_type_id,
            type_v=kv_type_id,
            use_mmap=mapped,
            # Sliding-window layers keep only their window (plus a batch) of each slot's
            # cells, as llama.cpp's server does; the decode loop checks the window before
            # reusing a cache, and keeps a copy of it (window_checkpoint).
            swa_full=False,
        )
    except Exception as exc:  # llama-cpp-python raises ValueError / RuntimeError / jinja errors
        if cancelled():
            raise Cancelled("Loading the model") from None
        raise ModelLoadError(_explain_load_failure(path, settings, exc)) from exc
    try:
        seconds = time.perf_counter() - started
        info = describe(llama, path, settings, gpu_layers, notes, seconds, weights_mapped=mapped)
    except BaseException:
        llama.close()
        raise
    return llama, info


def _total_ctx_tokens(path: Path, settings: LoadSettings) -> int:
    """The context to ask llama.cpp for: one slot's worth for each parallel reply."""
    if settings.parallel == 1 or settings.ctx_tokens:
        return settings.ctx_tokens * settings.parallel
    from converter.model_summary import read_gguf_summary

    return read_gguf_summary(path).n_ctx_train * settings.parallel


def _explain_load_failure(path: Path, settings: LoadSettings, exc: Exception) -> str:
    text = str(exc)
    if "context" in text:
        return (
            f"llama.cpp loaded {path.name} but could not create a {settings.ctx_tokens}-token "
            "context: probably not enough memory. Try a smaller context or a smaller KV cache type."
        )
    if "template" in type(exc).__name__.lower() or "jinja" in type(exc).__module__:
        return (
            f"The chat template stored in {path.name} is not valid Jinja ({exc}); "
            "llama-cpp-python refuses to open the model."
        )
    return (
        f"llama.cpp could not load {path.name}: the file is corrupt or truncated, or uses an "
        "architecture or format this llama.cpp version does not support. "
        "Download or convert it again."
    )


def describe(
    llama: Any,
    path: Path,
    settings: LoadSettings,
    gpu_layers: int,
    notes: tuple[str, ...],
    seconds: float,
    *,
    weights_mapped: bool,
) -> LoadInfo:
    """A :class:`LoadInfo` for an open model, from llama.cpp's own view of the file."""
    import llama_cpp

    metadata: dict[str, str] = llama.metadata
    architecture = metadata.get("general.architecture", "unknown")
    n_layers = int(metadata.get(f"{architecture}.block_count", 0) or 0)
    model = ModelInfo(
        name=metadata.get("general.name") or model_name(path),
        architecture=architecture,
        n_params=int(llama_cpp.llama_model_n_params(llama.model)),
        file_type=_file_type_name(metadata.get("general.file_type")),
        size_bytes=int(llama_cpp.llama_model_size(llama.model)),
        n_layers=n_layers,
        ctx_train_tokens=int(llama_cpp.llama_model_n_ctx_train(llama.model)),
    )
    stored_template = llama_cpp.llama_model_chat_template(llama.model, None)
    template = template_for(
        stored_template.decode("utf-8", errors="replace") if stored_template else None,
        bos_token=_token_text(llama, llama.token_bos()),
        eos_token=_token_text(llama, llama.token_eos()),
    )
    ctx_tokens = int(llama_cpp.llama_n_ctx_seq(llama.ctx))
    embedding_only = is_embedding_model(metadata)
    if embedding_only:  # its chat template (or the lack of one) does not matter
        notes = (*notes, EMBEDDING_MODEL_NOTE)
    elif template.note:
        notes = (*notes, template.note)
    if model.ctx_train_tokens and ctx_tokens > model.ctx_train_tokens:
        notes = (
            *notes,
            f"The context ({ctx_tokens} tokens) is longer than the model was trained on "
            f"({model.ctx_train_tokens}); answers may degrade past that point.",
        )
    offloaded = gpu_layers if gpu_layers >= 0 else n_layers + 1
    return LoadInfo(
        path=str(path),
        model=model,
        ctx_tokens=ctx_tokens,
        gpu_layers=min(offloaded, n_layers + 1),
        flash_attention=settings.flash_attention_on,
        kv_type=settings.kv_type,
        chat_template=template,
        load_seconds=seconds,
        notes=notes,
        parallel=settings.parallel,
        fingerprint=_fingerprint(path, settings, gpu_layers, ctx_tokens),
        embedding_only=embedding_only,
        weights_mapped=weights_mapped,
    )


def _fingerprint(path: Path, settings: LoadSettings, gpu_layers: int, ctx_tokens: int) -> str:
    """OpenAI-style ``fp_…``: changes when llama.cpp, the file or a setting that can change the
    numbers does (offload, flash attention, KV type, batch size, slots, repacking)."""
    import llama_cpp

    stat = path.stat()
    parts = (
        llama_cpp.__version__,
        path.name,
        stat.st_size,
        stat.st_mtime_ns,
        ctx_tokens,
        gpu_layers,
        settings.flash_attention_on,
        settings.kv_type,
        settings.batch_tokens,
        settings.parallel,
        settings.repack_weights,
    )
    return "fp_" + hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


def _token_text(llama: Any, token: int) -> str:
    import llama_cpp

    if token < 0:
        return ""
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    return llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8", errors="replace")


def _file_type_name(value: str | None) -> str:
    """``"15"`` → ``"Q4_K_M"``, as the library and the compare view name levels."""
    return level_name_of_file_type(value)
