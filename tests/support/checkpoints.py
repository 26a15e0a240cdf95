"""Tiny Hugging Face checkpoints made exactly as transformers saves them, for any test to reuse.

``build_checkpoint("qwen2", folder)`` writes config.json, safetensors weights (random, seeded)
and a real tokenizer copied from the shared fixtures. Weights are drawn at a scale that keeps
activations of order one, so logits have a clear top token and comparisons mean something.
The module also holds the two references a converted model is checked against: transformers'
logits for the checkpoint, and llama.cpp's logits for a GGUF (computed in a child process).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import TOKENIZER_FIXTURES

#: Token ids each tokenizer fixture defines (Hugging Face's count, without converter padding).
TOKENIZER_SIZES = {"gpt-2": 50257, "llama-spm": 32000, "phi-3": 32011, "llama-bpe": 128256}
#: Files of a fixture folder that are test data, not part of a model repository.
_NOT_REPO_FILES = {"cases.json", "gguf_reference.json"}

#: Mixture of experts: 4 experts of width 256 (a K-quant block), 2 chosen per token. Qwen3-MoE
#: checkpoints renormalise the chosen experts' weights, as llama.cpp's qwen3moe always does.
_TINY_MOE: dict[str, Any] = {
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 256,
    "norm_topk_prob": True,
}

#: Granite 3.x's multipliers are all far from 1 (the 2B model's, with an attention scale that
#: differs from 1/sqrt(head_dim)), so the logits test fails if any one is lost.
_GRANITE_MULTIPLIERS: dict[str, Any] = {
    "embedding_multiplier": 12.0,
    "residual_multiplier": 0.22,
    "attention_multiplier": 0.015625,
    "logits_scaling": 8.0,
    "tie_word_embeddings": True,
}

#: name → (transformers config class, model class, tokenizer fixture, config defaults)
_ARCHITECTURES: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", "llama-spm", {}),
    "mistral": ("MistralConfig", "MistralForCausalLM", "llama-spm", {"sliding_window": None}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", "gpt-2", {}),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", "gpt-2", {}),
    "phi3": (
        "Phi3Config",
        "Phi3ForCausalLM",
        "phi-3",
        {"vocab_size": 32064, "pad_token_id": 32000},
    ),
    "qwen3-moe": ("Qwen3MoeConfig", "Qwen3MoeForCausalLM", "gpt-2", {**_TINY_MOE}),
    "qwen2-moe": (
        "Qwen2MoeConfig",
        "Qwen2MoeForCausalLM",
        "gpt-2",
        {**_TINY_MOE, "norm_topk_prob": False, "shared_expert_intermediate_size": 256},
    ),
    "gemma2": (
        "Gemma2Config",
        "Gemma2ForCausalLM",
        "llama-spm",
        {"sliding_window": 8, "tie_word_embeddings": True},
    ),
    "gemma3": (
        "Gemma3TextConfig",
        "Gemma3ForCausalLM",
        "llama-spm",
        {
            "sliding_window": 8,
            "layer_types": ["sliding_attention", "full_attention"],
            "tie_word_embeddings": True,
        },
    ),
    "granite": ("GraniteConfig", "GraniteForCausalLM", "gpt-2", {**_GRANITE_MULTIPLIERS}),
    "olmo2": ("Olmo2Config", "Olmo2ForCausalLM", "gpt-2", {}),
}
ARCHITECTURES: tuple[str, ...] = tuple(_ARCHITECTURES)

_TINY = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5,
}


def default_tokenizer(arch: str) -> str:
    return _ARCHITECTURES[arch][2]


def tiny_config(
    arch: str, *, tokenizer: str | None = None, tied: bool | None = None, **overrides: Any
) -> Any:
    """The transformers config object of a tiny ``arch`` model (``tied``: None = the family's
    usual choice: Gemma ties its embeddings, the others do not)."""
    import transformers

    config_class, _model, fixture, defaults = _ARCHITECTURES[arch]
    fixture = tokenizer or fixture
    values: dict[str, Any] = {**_TINY, "vocab_size": TOKENIZER_SIZES[fixture]}
    values.update({"tie_word_embeddings": False, **defaults, **overrides})
    if tied is not None:
        values["tie_word_embeddings"] = tied
    config = getattr(transformers, config_class)(**values)
    config._attn_implementation = "eager"  # soft-capping is only in the eager attention
    return config


def _randomize(model: Any, seed: int) -> None:
    """Matrices ~ N(0, 1/fan_in); vectors (norms, biases) get their init plus N(0, 0.1²)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _name, param in sorted(model.named_parameters()):
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            if param.ndim >= 2:
                param.copy_(noise / math.sqrt(param.shape[1]))
            else:
                param.add_(0.1 * noise)


def copy_tokenizer(fixture: str, folder: Path) -> None:
    for path in (TOKENIZER_FIXTURES / fixture).iterdir():
        if path.name not in _NOT_REPO_FILES:
            shutil.copy2(path, folder / path.name)


def build_checkpoint(
    arch: str,
    folder: Path,
    *,
    tokenizer: str | None = None,
    dtype: str = "float32",
    tied: bool | None = None,
    shards: int = 1,
    seed: int = 0,
    **config_overrides: Any,
) -> Path:
    """Write a tiny ``arch`` checkpoint into ``folder`` (created) and return ``folder``.

    ``dtype`` is "float32", "float16" or "bfloat16"; ``shards`` > 1 splits the weights into
    about that many files plus ``model.safetensors.index.json``.
    """
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_config(arch, tokenizer=tokenizer, tied=tied, **config_overrides)
    model = getattr(transformers, _ARCHITECTURES[arch][1])(config)
    _randomize(model, seed)
    model = model.to(getattr(torch, dtype))
    kwargs: dict[str, Any] = {"safe_serialization": True}
    if shards > 1:
        total = sum(p.numel() * p.element_size() for p in model.parameters())
        kwargs["max_shard_size"] = total // shards + 1
    model.save_pretrained(folder, **kwargs)
    copy_tokenizer(tokenizer or default_tokenizer(arch), folder)
    return folder


def sample_token_ids(count: int, vocab: int, seed: int = 1) -> list[int]:
    """Ordinary token ids (past the first few hundred specials and bytes), reproducibly."""
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.integers(300, vocab, size=count)]


def transformers_logits(folder: Path, token_ids: list[int]) -> np.ndarray:
    """Next-token logits, shape (len(ids), vocab), of the checkpoint run in float32."""
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([token_ids])).logits[0]
    return logits.float().numpy()


def _llama_logits_in_child(
    emit: Any, path: str, token_ids: list[int], n_ctx: int, f32_cache: bool
) -> np.ndarray:
    import llama_cpp

    from desktop.engine.llama_loading import open_llama

    cache: dict[str, Any] = {}
    if f32_cache:
        # Flash attention would cast an f32 cache to f16 (llama-graph.cpp), so it is off here.
        cache = {
            "type_k": llama_cpp.GGML_TYPE_F32,
            "type_v": llama_cpp.GGML_TYPE_F32,
            "flash_attn": False,
        }
    llm = open_llama(path, n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, n_threads=2, **cache)
    llm.eval(token_ids)
    return np.array(llm.scores[: len(token_ids)], dtype=np.float32)


def llama_cpp_logits(
    gguf_path: Path, token_ids: list[int], *, n_ctx: int = 64, f32_cache: bool = False
) -> np.ndarray:
    """Next-token logits from llama.cpp for ``token_ids`` (evaluated in a child process).

    ``f32_cache`` keeps the KV cache in float32 instead of llama.cpp's default F16 (and flash
    attention off), so that an F32 model is computed without any 16-bit rounding.
    """
    from converter.child_process import run_in_child

    return run_in_child(
        _llama_logits_in_child, str(gguf_path), token_ids, n_ctx, f32_cache,
        what="Evaluating the GGUF",
    )  # fmt: skip


def write_streamed_checkpoint(
    folder: Path, shapes: dict[str, tuple[int, ...]], config: dict[str, Any], tokenizer: str
) -> int:
    """An F32 checkpoint of random ``shapes`` written tensor by tensor (never whole in memory,
    so memory tests measure the converter, not the writer); returns its data size."""
    folder.mkdir(parents=True)
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in shapes.items():
        size = int(np.prod(shape)) * 4
        header[name] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header).encode()
    rng = np.random.default_rng(0)
    with (folder / "model.safetensors").open("wb") as stream:
        stream.write(len(encoded).to_bytes(8, "little") + encoded)
        for shape in shapes.values():
            stream.write(rng.standard_normal(shape, dtype=np.float32).tobytes())
    (folder / "config.json").write_text(json.dumps(config))
    copy_tokenizer(tokenizer, folder)
    return offset


def _greedy_runs_in_child(
    emit: Any, paths: list[str], prompt_ids: list[int], count: int
) -> list[dict[str, Any]]:
    from desktop.engine.llama_loading import open_llama

    results = []
    for path in paths:
        llm = open_llama(path, n_ctx=64, n_threads=2, n_threads_batch=2, logits_all=True)
        llm.eval(prompt_ids)
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        tokens: list[int] = []
        for _ in range(count):
            tokens.append(int(llm.sample(temp=0.0)))
            llm.eval(tokens[-1:])
        results.append({"tokens": tokens, "logits": logits, "n_vocab": llm.n_vocab()})
        llm.close()
    return results


def greedy_runs(paths: list[Path], prompt_ids: list[int], count: int) -> list[dict[str, Any]]:
    """For each GGUF, in one child process: the prompt's last logits and ``count`` greedy
    tokens, so a quantized model can be held against its source."""
    from converter.child_process import run_in_child

    return run_in_child(
        _greedy_runs_in_child, [str(p) for p in paths], prompt_ids, count, what="Generating"
    )
