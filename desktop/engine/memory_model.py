"""How many bytes llama.cpp needs for a model, context and offload split: the arithmetic.

Every figure restates how llama.cpp 0.3.36 (llama-cpp-python's bundle) sizes its buffers:

* **Weights.** ``n_gpu_layers = N`` puts the last N of the ``n_layer + 1`` "layers" (the repeating
  blocks, then the output layer) on the GPU (``i_gpu_start = n_layer + 1 - N`` in
  ``llama-model.cpp``); token embeddings always stay on the CPU. A model without
  ``output.weight`` (tied embeddings) gets a second copy of ``token_embd`` on the output device.
* **KV cache.** Each of the ``sequences`` (parallel slots, one stream of cells each) gets
  ``n_ctx_seq = pad256(n_ctx / sequences)`` cells. Each layer holds
  ``cells × n_head_kv × (head_dim_k + head_dim_v)`` elements of the KV type (q8_0: 34 bytes per 32,
  q4_0: 18 per 32). Sliding-window layers hold only ``pad256(min(n_ctx_seq, n_swa + n_ubatch))``
  cells per sequence, as the worker loads them (``swa_full`` off, as llama.cpp's own tools
  do; llama.cpp's library default keeps them full size). The KV of an offloaded layer lives on
  its GPU. The worker keeps a copy of each slot's windowed cells in RAM
  (:mod:`desktop.engine.worker.window_checkpoint`): as much again as the windowed layers' KV.
* **Compute buffer.** The largest set of intermediate tensors alive at once, for a worst-case
  micro-batch of ``n_ubatch`` tokens against the whole cache. Its three candidates (attention,
  feed-forward, output logits) and their constants were fitted to the sizes llama.cpp reports
  (see ``benchmarks/fit_accuracy.py``): within a few percent without flash attention, and
  above llama.cpp's figure with it.
* **What the CPU really holds.** Memory llama.cpp reserves on the CPU becomes resident only
  when written. The compute buffer's worst case includes logits for every token of a
  micro-batch, over the whole vocabulary (512 MiB for a 262k vocabulary), but the app asks for
  the logits of one token per micro-batch, so ``ram_bytes`` counts the buffer as that session
  touches it (``compute_cpu_touched``); llama.cpp's reservation stays in the breakdown as
  ``compute_cpu``. VRAM is allocated whole, so the GPU side counts the reservation.
* **Attention masks.** A model with sliding-window layers gets two masks (one per cache),
  each ``n_ubatch × n_kv`` (f16 with flash attention, f32 without), both alive through the
  layers.
* **The CPU backend's work area.** Outside the compute buffer, ggml's CPU backend keeps one
  scratch area (``work_data`` in ``ggml-cpu.cpp``), as large as the largest operand it had to
  convert. Without flash attention that is the attention scores: ``kq · V`` multiplies the f32
  scores by the f16 V cache, so the scores are converted to f16 first, ``n_head × n_ubatch ×
  n_kv × 2`` bytes (32 MiB for 4 heads at 8k). It is allocated once, written whole, and kept;
  VRAM never holds it. With flash attention the kernel reads K and V a tile at a time (a
  quantized cache too) and the area stays small.
* **Overhead.** The worker process itself (Python, llama-cpp-python, threads) and the output
  logits buffer.

The CPU weights count in the worker's resident size either way: as file-backed pages when
the file is mapped (llama.cpp's default; the OS can drop them under pressure), or as
allocated memory where the worker reads them in to get huge pages (Linux,
:mod:`converter.huge_pages`). They must fit in RAM for usable speed, so ``ram_bytes``
includes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from converter.huge_pages import children_get_huge_pages
from converter.kv_cache_types import KV_CACHE_TYPES
from converter.model_summary import GGUFSummary, read_gguf_summary
from desktop.engine.flash_attention import flash_attention_on

F32, F16 = 4, 2
CTX_PAD = 256
#: Resident size of the inference worker process before it loads a model (Python, numpy,
#: llama_cpp): measured at 43 MiB on Linux (``VmRSS`` of a fresh worker); rounded up.
PROCESS_BASELINE_BYTES = 46 * 1024**2
#: What a session adds beyond its buffers and vocabulary: pages of llama.cpp's libraries first
#: touched while loading and computing, thread stacks, allocator slack. Measured at 4–7 MiB
#: (the process's mappings before and after a session, per kind); rounded up.
CONTEXT_OVERHEAD_BYTES = 8 * 1024**2
#: Per GPU: the CUDA context, cuBLAS handles and workspace llama.cpp creates. Measured on an
#: H100 (driver 580, CUDA 13, llama-cpp-python 0.3.36) as device memory in use beyond
#: llama.cpp's own buffers: 606 MiB with flash attention, 653–714 MiB without; rounded up so
#: the prediction errs on the safe side.
GPU_CONTEXT_BYTES = 720 * 1024**2
#: llama.cpp's vocabulary tables (token texts, the text→id map, the piece cache) and the
#: metadata it holds while loading, per vocabulary entry: measured on Gemma 3 270M (262,144
#: tokens) as 48 MiB of resident memory after loading beyond the weights and the KV cache.
VOCAB_BYTES_PER_TOKEN = 192
#: Where the worker's allocator gets huge pages (:mod:`converter.huge_pages`) memory is
#: committed 2 MiB at a time: a buffer a session touches only in part (the compute buffer)
#: and the allocator's heap hold up to a page more each than with 4 KiB pages. Measured on
#: the tiny test model: 0.4-3.7 MiB above the 4 KiB figure; four pages are allowed.
HUGE_PAGE_SLACK_BYTES = 4 * 2 * 1024**2
#: Token ids, positions and other small graph inputs, rounded up.
COMPUTE_INPUTS_BYTES = 64 * 1024
#: Besides the logits, llama.cpp keeps 5.5 f32 activations per embedding value and micro-batch
#: token alive at the output, but no more than about 11 KiB per token (fitted).
LOGITS_EXTRA_PER_TOKEN = 11 * 1024
#: The breakdown's parts that the RAM figure sums (the reserved "compute_cpu" is not one:
#: on the CPU only the part a session touches stays resident).
RAM_PARTS = (
    "weights_cpu", "kv_cpu", "compute_cpu_touched", "cpu_work", "output", "vocabulary", "process",
    "huge_page_slack", "window_checkpoints",
)  # fmt: skip
#: The breakdown's parts that the VRAM figure sums.
VRAM_PARTS = ("weights_gpu", "kv_gpu", "compute_gpu", "gpu_context")


def pad(n: int, multiple: int) -> int:
    return (n + multiple - 1) // multiple * multiple


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    ram_bytes: int  # the worker process's resident size, mapped CPU weights included
    vram_bytes: int  # on the GPU (0 without offload)
    breakdown: Mapping[str, int]  # "weights_cpu", "weights_gpu", "kv_cpu", "kv_gpu", …
    n_ctx: int  # after llama.cpp's padding
    n_gpu_layers: int


def kv_cache_bytes_per_layer(
    summary: GGUFSummary,
    *,
    n_ctx: int,
    kv_type: str,
    n_ubatch: int = 512,
    swa_full: bool = False,
    sequences: int = 1,
) -> tuple[int, ...]:
    """Bytes of K and V cache for each layer at ``n_ctx`` tokens in all (already padded: a
    multiple of 256 per sequence)."""
    try:
        element = KV_CACHE_TYPES[kv_type].bytes_per_element
    except KeyError:
        raise ValueError(f"Unknown KV cache type {kv_type!r}; use f16, q8_0 or q4_0.") from None
    n_ctx_seq = n_ctx // sequences
    if not swa_full:
        n_ctx_seq = pad(min(n_ctx_seq, summary.n_swa + n_ubatch), CTX_PAD)
    swa_cells = n_ctx_seq * sequences
    sizes = []
    for layer in range(summary.n_layer):
        cells = swa_cells if summary.swa_layers[layer] else n_ctx
        per_token = summary.n_head_kv[layer] * (summary.head_dim_k + summary.head_dim_v)
        sizes.append(round(cells * per_token * element))
    return tuple(sizes)


def compute_buffer_bytes(
    summary: GGUFSummary,
    *,
    n_ctx: int,
    n_ubatch: int,
    flash_attention: bool,
    n_outputs: int | None = None,
) -> int:
    """llama.cpp's worst-case compute buffer for one device holding the whole graph.

    llama.cpp reserves it for a micro-batch whose every token asks for logits. ``n_outputs``
    gives the part a real session writes to: the app asks for the logits of one token per
    micro-batch (the last), and the graph computes the output layer only for the rows asked
    for, so on the CPU the rest of the reservation is never touched and costs no RAM.
    """
    u, e, n_kv = n_ubatch, summary.n_embd, n_ctx
    outputs = u if n_outputs is None else min(n_outputs, u)
    hidden = u * e * F32
    mask = u * n_kv * (F16 if flash_attention else F32)
    # a second mask for the sliding-window layers, alive with the first through every layer
    swa_mask = mask if any(summary.swa_layers) else 0
    if flash_attention:
        attention = mask + 8 * hidden  # the f16 mask, Q/K/V views and the output
    else:
        attention = u * n_kv * summary.n_head * F32 + mask + 6 * hidden  # scores + f32 mask
    attention += swa_mask
    feed_forward = 3 * u * summary.n_ff * F32 + 3 * hidden + swa_mask  # gate, up, product
    logits = outputs * (summary.n_vocab * F32 + min(LOGITS_EXTRA_PER_TOKEN, 22 * e))
    if n_outputs is not None:
        logits += hidden  # the micro-batch's last hidden states, before the rows are picked
    if flash_attention:
        # with flash attention the mask and a few activations stay alive past the attention
        alive = mask + hidden
        feed_forward, logits = feed_forward + alive, logits + alive
    return max(attention, feed_forward, logits) + COMPUTE_INPUTS_BYTES


def cpu_work_bytes(
    summary: GGUFSummary, *, n_ctx: int, n_ubatch: int, flash_attention: bool
) -> int:
    """The CPU backend's scratch area: the largest operand a matrix product converted.

    ggml converts a product's f32 input to the weight's dot-product type (f16 at most, 2 bytes)
    into one area it keeps and only ever enlarges. Without flash attention the largest input is
    the attention scores (``n_head × n_ubatch × n_kv``) multiplied by the f16 V cache; with it,
    the feed-forward activations.
    """
    u = n_ubatch
    work = u * max(summary.n_ff, summary.n_embd) * F16
    if not flash_attention:
        work = max(work, summary.n_head * u * n_ctx * F16)
    return work


def _layers_on_gpu(n_layer: int, n_gpu_layers: int) -> tuple[range, bool]:
    """Which blocks and whether the output layer go to the GPU for ``n_gpu_layers``."""
    n_gpu = max(0, min(n_gpu_layers, n_layer + 1))
    first_gpu = n_layer + 1 - n_gpu
    return range(min(first_gpu, n_layer), n_layer), n_gpu >= 1  # the output is "layer" n_layer


def estimate_memory(
    model: Path | GGUFSummary,
    *,
    ctx_tokens: int,
    kv_type: str = "f16",
    n_gpu_layers: int = 0,
    flash_attention: bool | None = None,
    n_ubatch: int = 512,
    swa_full: bool = False,
    sequences: int = 1,
) -> MemoryEstimate:
    """Predict RAM and VRAM for running ``model`` with this context and offload split.

    ``ctx_tokens`` is the whole context: ``sequences`` parallel slots share it equally.
    ``flash_attention`` None is the app's default, the switch the worker loads with; it must
    be on for a quantized V cache (llama.cpp refuses otherwise). ``n_ubatch`` 512 is the
    worker's batch; ``swa_full`` False the worker's sliding-window cache.
    """
    summary = model if isinstance(model, GGUFSummary) else read_gguf_summary(model)
    flash_attention = flash_attention_on(flash_attention)
    if kv_type != "f16" and not flash_attention:
        raise ValueError("A quantized KV cache needs flash attention on (llama.cpp requires it).")
    if sequences < 1:
        raise ValueError(f"A context holds at least one sequence, not {sequences}.")
    # llama.cpp pads each sequence's share of the context, not the whole
    n_ctx = pad(max(ctx_tokens // sequences, 1), CTX_PAD) * sequences
    u = min(n_ubatch, n_ctx)
    gpu_blocks, output_on_gpu = _layers_on_gpu(summary.n_layer, n_gpu_layers)
    kv = kv_cache_bytes_per_layer(
        summary, n_ctx=n_ctx, kv_type=kv_type, n_ubatch=u, swa_full=swa_full, sequences=sequences
    )
    weights_gpu = sum(summary.layer_bytes[i] for i in gpu_blocks)
    kv_gpu = sum(kv[i] for i in gpu_blocks)
    if output_on_gpu:
        weights_gpu += summary.output_bytes
    weights_cpu = summary.weight_bytes - weights_gpu
    if output_on_gpu and summary.tied_embeddings:
        weights_gpu += summary.token_embd_bytes  # a GPU copy; the CPU keeps token_embd too
    compute = compute_buffer_bytes(
        summary, n_ctx=n_ctx, n_ubatch=u, flash_attention=flash_attention
    )
    # What the CPU really holds: the app asks for the logits of one token per micro-batch.
    compute_touched = compute_buffer_bytes(
        summary, n_ctx=n_ctx, n_ubatch=u, flash_attention=flash_attention, n_outputs=1
    )
    offloaded = len(gpu_blocks) > 0 or output_on_gpu
    # the CPU computes attention for the blocks left on it; a full offload leaves none
    attention_on_cpu = len(gpu_blocks) < summary.n_layer
    work = cpu_work_bytes(summary, n_ctx=n_ctx, n_ubatch=u, flash_attention=flash_attention)
    breakdown = {
        "weights_cpu": weights_cpu,
        "weights_gpu": weights_gpu,
        "kv_cpu": sum(kv) - kv_gpu,
        "kv_gpu": kv_gpu,
        # With any offload the GPU runs the graph and the CPU keeps a smaller host-side buffer;
        # counting the full buffer on both sides errs on the safe side.
        "compute_cpu": compute,  # reserved (llama.cpp's figure)
        "compute_cpu_touched": compute_touched,  # resident: what the RAM verdict counts
        "compute_gpu": compute if offloaded else 0,
        "cpu_work": work if attention_on_cpu else 0,  # the CPU backend's scratch, written whole
        "output": summary.n_vocab * F32,
        "vocabulary": summary.n_vocab * VOCAB_BYTES_PER_TOKEN,
        "process": PROCESS_BASELINE_BYTES + CONTEXT_OVERHEAD_BYTES,
        "huge_page_slack": HUGE_PAGE_SLACK_BYTES if children_get_huge_pages() else 0,
        # the decode loop's copy of each slot's windowed cells, in RAM wherever the cache is
        "window_checkpoints": 0
        if swa_full
        else sum(size for size, windowed in zip(kv, summary.swa_layers, strict=True) if windowed),
        "gpu_context": GPU_CONTEXT_BYTES if offloaded else 0,
    }
    ram = sum(breakdown[k] for k in RAM_PARTS)
    vram = sum(breakdown[k] for k in VRAM_PARTS)
    return MemoryEstimate(ram, vram, MappingProxyType(breakdown), n_ctx, n_gpu_layers)
