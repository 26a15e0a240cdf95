"""Conversion streams: peak memory does not grow with the model."""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

from converter.child_process import run_in_child
from tests.support.checkpoints import write_streamed_checkpoint

HIDDEN, FF, VOCAB = 512, 2048, 32000
MiB = 1024 * 1024


def _llama_shapes(layers: int) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (VOCAB, HIDDEN),
        "model.norm.weight": (HIDDEN,),
        "lm_head.weight": (VOCAB, HIDDEN),
    }
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes |= {
            p + "input_layernorm.weight": (HIDDEN,),
            p + "post_attention_layernorm.weight": (HIDDEN,),
            p + "self_attn.q_proj.weight": (HIDDEN, HIDDEN),
            p + "self_attn.k_proj.weight": (HIDDEN // 4, HIDDEN),
            p + "self_attn.v_proj.weight": (HIDDEN // 4, HIDDEN),
            p + "self_attn.o_proj.weight": (HIDDEN, HIDDEN),
            p + "mlp.gate_proj.weight": (FF, HIDDEN),
            p + "mlp.up_proj.weight": (FF, HIDDEN),
            p + "mlp.down_proj.weight": (HIDDEN, FF),
        }
    return shapes


def write_large_checkpoint(folder: Path, layers: int) -> int:
    """A Llama-layout F32 checkpoint written tensor by tensor; returns its data size."""
    config = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": HIDDEN,
        "intermediate_size": FF,
        "num_hidden_layers": layers,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "vocab_size": VOCAB,
        "rms_norm_eps": 1e-5,
        "max_position_embeddings": 2048,
        "dtype": "float32",
    }
    return write_streamed_checkpoint(folder, _llama_shapes(layers), config, "llama-spm")


def _convert_and_report_peak(emit: Any, source: str, out: str) -> int:
    from converter.convert import convert_checkpoint
    from converter.progress import run_job

    run_job(convert_checkpoint(Path(source), Path(out)))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def peak_rss_of_conversion(source: Path, out: Path) -> int:
    return run_in_child(_convert_and_report_peak, str(source), str(out), what="Converting")


def test_peak_memory_does_not_grow_with_the_model(tmp_path: Path) -> None:
    small_bytes = write_large_checkpoint(tmp_path / "small", layers=2)
    large_bytes = write_large_checkpoint(tmp_path / "large", layers=24)
    assert large_bytes - small_bytes > 300 * MiB
    small_peak = peak_rss_of_conversion(tmp_path / "small", tmp_path / "out-small")
    large_peak = peak_rss_of_conversion(tmp_path / "large", tmp_path / "out-large")
    # 330 MiB more weights may cost at most 40 MiB more peak memory (measured: a few MiB).
    assert large_peak - small_peak < 40 * MiB, (small_peak / MiB, large_peak / MiB)
