"""A Llama-shaped Hugging Face checkpoint with random bf16 weights, streamed straight to disk.

An 8B-parameter checkpoint is 16 GB: building it as a torch model first would need that much
RAM and minutes of random-number generation. Speed and memory do not depend on the weights'
values, so every tensor is cut from a small pool of random bf16 values at a per-tensor offset
(scaled 1/sqrt(fan-in), which keeps activations finite), and written in sharded safetensors
files as transformers lays them out. The tokenizer files come from a real tokenizer folder.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

import numpy as np

from converter.convert import f32_to_bf16_bits
from converter.storage import atomic_output, ensure_free_space, ensure_writable_folder

#: Elements in each pool of random values (8 MiB of bf16).
POOL_ELEMENTS = 4 * 1024 * 1024
#: Largest shard, in bytes, as transformers' ``max_shard_size="5GB"`` would cut them.
SHARD_BYTES = 5 * 1000**3
BF16_ONE = 0x3F80
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True, slots=True)
class LlamaShape:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    context: int = 8192
    rope_theta: float = 500000.0

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


#: The shapes the GPU benchmark runs: Meta-Llama-3-8B's dimensions; Llama-3.2-1B's (its
#: output matrix kept apart from the embedding) for CPU runs on the same machine, where the
#: 8B shape would give too few tokens a second; and a tiny one for a rehearsal on a CPU (same
#: tokenizer, so the same vocabulary).
SHAPES: MappingProxyType[str, LlamaShape] = MappingProxyType(
    {
        "llama3-8b": LlamaShape(4096, 14336, 32, 32, 8, 128256),
        "llama3-1b": LlamaShape(2048, 8192, 16, 32, 8, 128256),
        "tiny": LlamaShape(256, 512, 2, 4, 2, 128256),
    }
)


def tensor_shapes(shape: LlamaShape) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Every tensor of ``LlamaForCausalLM`` with its (rows, columns), in the file order."""
    h, kv = shape.hidden, shape.kv_heads * shape.head_dim
    tensors: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (shape.vocab, h))]
    for i in range(shape.layers):
        p = f"model.layers.{i}."
        tensors += [
            (p + "input_layernorm.weight", (h,)),
            (p + "self_attn.q_proj.weight", (h, h)),
            (p + "self_attn.k_proj.weight", (kv, h)),
            (p + "self_attn.v_proj.weight", (kv, h)),
            (p + "self_attn.o_proj.weight", (h, h)),
            (p + "post_attention_layernorm.weight", (h,)),
            (p + "mlp.gate_proj.weight", (shape.intermediate, h)),
            (p + "mlp.up_proj.weight", (shape.intermediate, h)),
            (p + "mlp.down_proj.weight", (h, shape.intermediate)),
        ]
    tensors += [("model.norm.weight", (h,)), ("lm_head.weight", (shape.vocab, h))]
    return tuple(tensors)


def checkpoint_bytes(shape: LlamaShape) -> int:
    return sum(2 * int(np.prod(dims)) for _name, dims in tensor_shapes(shape))


def _config(shape: LlamaShape) -> dict[str, object]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": shape.hidden,
        "intermediate_size": shape.intermediate,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "head_dim": shape.head_dim,
        "vocab_size": shape.vocab,
        "max_position_embeddings": shape.context,
        "rms_norm_eps": 1e-5,
        "rope_theta": shape.rope_theta,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "bos_token_id": 128000,
        "eos_token_id": 128001,
    }


class _Pools:
    """bf16 random values for each fan-in, generated once and reused by every tensor."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._by_fan_in: dict[int, np.ndarray] = {}

    def for_fan_in(self, fan_in: int) -> np.ndarray:
        if fan_in not in self._by_fan_in:
            values = self._rng.standard_normal(POOL_ELEMENTS, dtype=np.float32)
            self._by_fan_in[fan_in] = f32_to_bf16_bits(values / np.float32(np.sqrt(fan_in)))
        return self._by_fan_in[fan_in]


def _tensor_chunks(dims: tuple[int, ...], pools: _Pools, index: int) -> Iterator[memoryview]:
    """The tensor's bf16 bytes: norms are ones, matrices are the pool from a shifting offset."""
    count = int(np.prod(dims))
    if len(dims) == 1:
        yield memoryview(np.full(count, BF16_ONE, dtype="<u2")).cast("B")
        return
    pool = pools.for_fan_in(dims[1])
    start = (index * 7919) % POOL_ELEMENTS  # a prime stride: neighbouring tensors differ
    while count > 0:
        piece = pool[start : start + count]
        yield memoryview(piece).cast("B")
        count -= len(piece)
        start = 0


def _shards(
    tensors: tuple[tuple[str, tuple[int, ...]], ...],
) -> list[list[tuple[int, str, tuple[int, ...]]]]:
    shards: list[list[tuple[int, str, tuple[int, ...]]]] = [[]]
    size = 0
    for index, (name, dims) in enumerate(tensors):
        nbytes = 2 * int(np.prod(dims))
        if shards[-1] and size + nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append((index, name, dims))
        size += nbytes
    return shards


def _write_shard(
    stream: BinaryIO, members: list[tuple[int, str, tuple[int, ...]]], pools: _Pools
) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for _index, name, dims in members:
        nbytes = 2 * int(np.prod(dims))
        header[name] = {
            "dtype": "BF16",
            "shape": list(dims),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)  # data starts 8-byte aligned, like safetensors writes
    stream.write(struct.pack("<Q", len(encoded)) + encoded)
    for index, _name, dims in members:
        for chunk in _tensor_chunks(dims, pools, index):
            stream.write(chunk)


def write_checkpoint(shape: LlamaShape, folder: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """Write ``config.json``, sharded ``model-*.safetensors`` with an index, and the tokenizer."""
    ensure_writable_folder(folder)
    ensure_free_space(folder, checkpoint_bytes(shape) + 64 * 1024**2, "the synthetic checkpoint")
    for name in _TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copyfile(tokenizer_dir / name, folder / name)
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{tokenizer_dir} has no tokenizer.json")
    tensors = tensor_shapes(shape)
    shards = _shards(tensors)
    pools = _Pools(seed)
    weight_map: dict[str, str] = {}
    for number, members in enumerate(shards, start=1):
        file_name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        with atomic_output(folder / file_name) as partial, partial.open("wb") as stream:
            _write_shard(stream, members, pools)
        weight_map.update({name: file_name for _index, name, _dims in members})
    index = {"metadata": {"total_size": checkpoint_bytes(shape)}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    (folder / "config.json").write_text(json.dumps(_config(shape), indent=1))
    return folder


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 4 or sys.argv[1] not in SHAPES:
        sys.exit(
            "usage: python -m benchmarks.gpu.synthetic_llama "
            f"{{{','.join(SHAPES)}}} FOLDER TOKENIZER_DIR"
        )
    print(write_checkpoint(SHAPES[sys.argv[1]], Path(sys.argv[2]), Path(sys.argv[3])))
