"""Multi-GB Llama checkpoints in Hugging Face's exact layout, written without torch.

Building a 2 GB model through transformers needs the whole model (several times over) in RAM
and minutes of initialisation. A converter benchmark only needs the files: config.json,
sharded ``model-0000x-of-0000y.safetensors`` with ``model.safetensors.index.json``, and a real
tokenizer. So the safetensors files are written here directly, streaming random bfloat16 bits
block by block, with the tensor names, shapes, shard split and byte layout that
``LlamaForCausalLM.save_pretrained`` produces (:func:`self_check` proves it against a real one).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import numpy as np

from tests.conftest import TOKENIZER_FIXTURES

TOKENIZER = "gpt-2"
#: The gpt-2 tokenizer's size; its ``<|endoftext|>`` is both BOS and EOS.
TOKENIZER_VOCAB = 50257
END_OF_TEXT = 50256
#: Fixture files that are test data rather than part of a model repository.
_NOT_REPO_FILES = frozenset({"cases.json", "gguf_reference.json"})
#: Elements generated and written per block: 32 MiB of bf16, whatever the tensor size.
BLOCK_ELEMENTS = 16 * 1024 * 1024
INDEX_FILE = "model.safetensors.index.json"


@dataclass(frozen=True, slots=True)
class LlamaShape:
    """The hyperparameters that decide a Llama checkpoint's tensors."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int = TOKENIZER_VOCAB
    shards: int = 2  # the shard size limit is total / shards, as in tests/support/checkpoints.py

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def tensors(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(name, shape) in module order, the state-dict order that transformers shards by."""
        h, kv = self.hidden, self.kv_heads * self.head_dim
        per_layer = (
            ("self_attn.q_proj.weight", (h, h)),
            ("self_attn.k_proj.weight", (kv, h)),
            ("self_attn.v_proj.weight", (kv, h)),
            ("self_attn.o_proj.weight", (h, h)),
            ("mlp.gate_proj.weight", (self.intermediate, h)),
            ("mlp.up_proj.weight", (self.intermediate, h)),
            ("mlp.down_proj.weight", (h, self.intermediate)),
            ("input_layernorm.weight", (h,)),
            ("post_attention_layernorm.weight", (h,)),
        )
        layers = tuple(
            (f"model.layers.{i}.{name}", shape)
            for i in range(self.layers)
            for name, shape in per_layer
        )
        return (
            ("model.embed_tokens.weight", (self.vocab, h)),
            *layers,
            ("model.norm.weight", (h,)),
            ("lm_head.weight", (self.vocab, h)),
        )

    @property
    def parameters(self) -> int:
        return sum(math.prod(shape) for _name, shape in self.tensors())

    @property
    def nbytes(self) -> int:
        return 2 * self.parameters  # bfloat16

    def config(self) -> dict[str, Any]:
        """config.json as transformers 5 writes it for ``LlamaConfig`` with these values."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": END_OF_TEXT,
            "dtype": "bfloat16",
            "eos_token_id": END_OF_TEXT,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "hidden_size": self.hidden,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate,
            "max_position_embeddings": 4096,
            "mlp_bias": False,
            "model_type": "llama",
            "num_attention_heads": self.heads,
            "num_hidden_layers": self.layers,
            "num_key_value_heads": self.kv_heads,
            "pad_token_id": None,
            "pretraining_tp": 1,
            "rms_norm_eps": 1e-05,
            "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
            "tie_word_embeddings": False,
            "transformers_version": "5.23.0",
            "use_cache": True,
            "vocab_size": self.vocab,
        }


#: Benchmark sizes: ~0.5 GB (a Qwen2.5-0.5B-class width) and ~2.35 GB (TinyLlama-1.1B's
#: shape with the gpt-2 vocabulary); "tiny" (54 MB) only to try the benchmark out.
SIZES = MappingProxyType(
    {
        "tiny": LlamaShape(hidden=256, intermediate=512, layers=2, heads=4, kv_heads=2),
        "small": LlamaShape(hidden=1024, intermediate=2816, layers=12, heads=16, kv_heads=8),
        "large": LlamaShape(
            hidden=2048, intermediate=5632, layers=22, heads=32, kv_heads=4, shards=3
        ),
    }
)


def random_bf16_bits(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random bfloat16 bit patterns with magnitudes in [2^-9, 2^-1): no NaN, Inf or subnormal,
    and every value exactly representable in float16, so F16 outputs can be compared bit for bit.
    """
    bits = np.frombuffer(rng.bytes(2 * count), dtype=np.uint16)
    exponent = (np.uint16(118) + ((bits >> 7) & np.uint16(7))) << 7
    return (bits & np.uint16(0x807F)) | exponent


def _shard_split(shape: LlamaShape) -> list[list[tuple[str, tuple[int, ...]]]]:
    """huggingface_hub's rule: a tensor over the limit gets a shard of its own at once; the
    others fill the current shard in order until the next one would pass the limit."""
    limit = shape.nbytes // shape.shards + 1
    shards: list[list[tuple[str, tuple[int, ...]]]] = []
    current: list[tuple[str, tuple[int, ...]]] = []
    size = 0
    for name, dims in shape.tensors():
        nbytes = 2 * math.prod(dims)
        if nbytes > limit:
            shards.append([(name, dims)])
            continue
        if size + nbytes > limit:
            shards.append(current)
            current, size = [], 0
        current.append((name, dims))
        size += nbytes
    return [*shards, current] if current else shards


def safetensors_header(tensors: list[tuple[str, tuple[int, ...]]]) -> bytes:
    """The length-prefixed JSON header; data is laid out in name order, as safetensors does."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, dims in sorted(tensors):
        end = offset + 2 * math.prod(dims)
        header[name] = {"dtype": "BF16", "shape": list(dims), "data_offsets": [offset, end]}
        offset = end
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def _tensor_blocks(rng: np.random.Generator, count: int) -> Iterator[np.ndarray]:
    for start in range(0, count, BLOCK_ELEMENTS):
        yield random_bf16_bits(rng, min(BLOCK_ELEMENTS, count - start))


def _write_shard(stream: BinaryIO, tensors: list[tuple[str, tuple[int, ...]]], seed: int) -> None:
    stream.write(safetensors_header(tensors))
    rng = np.random.default_rng(seed)
    for _name, dims in sorted(tensors):
        for block in _tensor_blocks(rng, math.prod(dims)):
            stream.write(block.tobytes())


def copy_tokenizer(folder: Path) -> None:
    for path in (TOKENIZER_FIXTURES / TOKENIZER).iterdir():
        if path.name not in _NOT_REPO_FILES:
            shutil.copyfile(path, folder / path.name)


def write_checkpoint(shape: LlamaShape, folder: Path, *, seed: int = 0) -> Path:
    """Write a complete checkpoint of ``shape`` into ``folder`` (created) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    shards = _shard_split(shape)
    weight_map: dict[str, str] = {}
    for number, tensors in enumerate(shards, start=1):
        file_name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        with (folder / file_name).open("wb") as stream:
            _write_shard(stream, tensors, seed + number)
        weight_map.update({name: file_name for name, _dims in tensors})
    index = {
        "metadata": {"total_parameters": shape.parameters, "total_size": shape.nbytes},
        "weight_map": dict(sorted(weight_map.items())),
    }
    (folder / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    (folder / "config.json").write_text(json.dumps(shape.config(), indent=2) + "\n")
    generation = {"bos_token_id": END_OF_TEXT, "eos_token_id": END_OF_TEXT, "use_cache": True}
    (folder / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    copy_tokenizer(folder)
    return folder


#: The tiny model of tests/support/checkpoints.py, to compare layouts with; sharded two ways (a big
#: tensor closes a shard) and three ways (big tensors get shards of their own).
_TINY = tuple(
    LlamaShape(hidden=256, intermediate=512, layers=2, heads=4, kv_heads=2, shards=shards)
    for shards in (2, 3)
)
#: config.json values chosen differently from LlamaConfig's defaults on purpose.
_OWN_CONFIG_VALUES = frozenset({"bos_token_id", "eos_token_id", "max_position_embeddings"})


def _headers(folder: Path) -> dict[str, tuple[int, dict[str, Any]]]:
    """File name → (file size, parsed safetensors header) for every shard."""
    headers = {}
    for path in sorted(folder.glob("*.safetensors")):
        with path.open("rb") as stream:
            length = int.from_bytes(stream.read(8), "little")
            headers[path.name] = (path.stat().st_size, json.loads(stream.read(length)))
    return headers


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise AssertionError(f"synthetic checkpoint differs from transformers': {what}")


def self_check(workdir: Path) -> None:
    """Prove the writer matches ``save_pretrained``: same files, headers, byte layout, index and
    config keys as a real tiny LlamaForCausalLM, and transformers loads ours with no missing or
    unexpected weights and reads back exactly the bits we wrote."""
    for shape in _TINY:
        _check_against_transformers(shape, workdir / f"{shape.shards}-shards")


def _check_against_transformers(shape: LlamaShape, workdir: Path) -> None:
    import torch
    import transformers
    from safetensors import safe_open

    from tests.support.checkpoints import build_checkpoint

    real = build_checkpoint(
        "llama", workdir / "real", tokenizer=TOKENIZER, dtype="bfloat16", shards=shape.shards
    )
    ours = write_checkpoint(shape, workdir / "synthetic")
    _require(_headers(real) == _headers(ours), "shard files, sizes or safetensors headers")
    real_index = json.loads((real / INDEX_FILE).read_text())
    _require(real_index == json.loads((ours / INDEX_FILE).read_text()), INDEX_FILE)
    real_config = json.loads((real / "config.json").read_text())
    our_config = shape.config()
    _require(real_config.keys() == our_config.keys(), "config.json keys")
    differing = {k for k in real_config if real_config[k] != our_config[k]}
    _require(differing <= _OWN_CONFIG_VALUES, f"config.json values {sorted(differing)}")

    model, info = transformers.LlamaForCausalLM.from_pretrained(
        ours, dtype=torch.bfloat16, output_loading_info=True
    )
    _require(not info["missing_keys"] and not info["unexpected_keys"], f"loading: {info}")
    state = model.state_dict()
    for file_name in sorted({*real_index["weight_map"].values()}):
        with safe_open(ours / file_name, framework="pt") as shard:
            for name in shard.keys():  # noqa: SIM118 - safe_open has no __iter__
                _require(torch.equal(shard.get_tensor(name), state[name]), f"data of {name}")
