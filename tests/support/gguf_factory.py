"""Tiny GGUF language models with random weights, written with gguf-py, for tests and benchmarks.

The files are real llama.cpp models (llama architecture, SentencePiece-style vocabulary with
byte fallback) that llama.cpp loads and runs; only the weights are noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, TokenType

_SPECIAL = ("<unk>", "<s>", "</s>")
_WORD_PIECES = tuple(f"\u2581{c}" for c in "abcdefghijklmnopqrstuvwxyz") + tuple(
    "abcdefghijklmnopqrstuvwxyz"
)


@dataclass(frozen=True, slots=True)
class TinyModelShape:
    n_layer: int = 2
    n_embd: int = 256
    n_head: int = 4
    n_head_kv: int = 2
    n_ff: int = 512
    n_vocab: int = 320
    n_ctx_train: int = 4096
    tied_embeddings: bool = False
    architecture: str = "llama"
    sliding_window: int = 0  # gemma-style interleaved SWA when > 0 (arch must know the pattern)


def _vocabulary(n_vocab: int) -> tuple[list[str], list[float], list[int]]:
    tokens = list(_SPECIAL)
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    filler = 0
    while len(tokens) < n_vocab:
        piece = _WORD_PIECES[filler] if filler < len(_WORD_PIECES) else f"\u2581w{filler}"
        tokens.append(piece)
        types.append(TokenType.NORMAL)
        filler += 1
    if len(tokens) > n_vocab:
        raise ValueError(f"n_vocab must be at least {len(_SPECIAL) + 256}")
    scores = [0.0] * 259 + [-float(i) for i in range(n_vocab - 259)]
    return tokens, scores, [int(t) for t in types]


def _tensor_shapes(shape: TinyModelShape) -> list[tuple[str, tuple[int, ...]]]:
    """Names and numpy shapes (rows, cols) of a llama model's tensors."""
    head_dim = shape.n_embd // shape.n_head
    kv_dim = shape.n_head_kv * head_dim
    tensors: list[tuple[str, tuple[int, ...]]] = [
        ("token_embd.weight", (shape.n_vocab, shape.n_embd))
    ]
    for i in range(shape.n_layer):
        tensors += [
            (f"blk.{i}.attn_norm.weight", (shape.n_embd,)),
            (f"blk.{i}.attn_q.weight", (shape.n_embd, shape.n_embd)),
            (f"blk.{i}.attn_k.weight", (kv_dim, shape.n_embd)),
            (f"blk.{i}.attn_v.weight", (kv_dim, shape.n_embd)),
            (f"blk.{i}.attn_output.weight", (shape.n_embd, shape.n_embd)),
            (f"blk.{i}.ffn_norm.weight", (shape.n_embd,)),
            (f"blk.{i}.ffn_gate.weight", (shape.n_ff, shape.n_embd)),
            (f"blk.{i}.ffn_up.weight", (shape.n_ff, shape.n_embd)),
            (f"blk.{i}.ffn_down.weight", (shape.n_embd, shape.n_ff)),
        ]
        if shape.architecture == "gemma3":  # per-head Q/K norms and the post-norms
            tensors += [
                (f"blk.{i}.attn_q_norm.weight", (head_dim,)),
                (f"blk.{i}.attn_k_norm.weight", (head_dim,)),
                (f"blk.{i}.post_attention_norm.weight", (shape.n_embd,)),
                (f"blk.{i}.post_ffw_norm.weight", (shape.n_embd,)),
            ]
    tensors.append(("output_norm.weight", (shape.n_embd,)))
    if not shape.tied_embeddings:
        tensors.append(("output.weight", (shape.n_vocab, shape.n_embd)))
    return tensors


def write_tiny_gguf(
    path: Path,
    shape: TinyModelShape = TinyModelShape(),
    *,
    seed: int = 0,
    truncate_data: bool = False,
    never_ends: bool = False,
    name: str = "tiny random test model",
    split_max_tensors: int = 0,
    chat_template: str | None = None,
) -> Path:
    """Write an F16 model (norms F32) to ``path``; ``truncate_data`` cuts the file mid-weights.

    ``split_max_tensors`` splits the model into parts of at most that many tensors, as
    llama.cpp's gguf-split does (gguf-py's writer names and marks them so): the parts are
    ``PATH-00001-of-0000N.gguf`` … beside ``path``, and the first part is returned.

    ``never_ends`` zeroes the end-of-text row of the output matrix: its logit is then always 0
    while hundreds of others are random around 0, so greedy decoding never picks it (a test
    that must stop a reply midway needs a reply that does not end by itself).

    ``chat_template``: stored as the model's own template (``tokenizer.chat_template``).
    """
    rng = np.random.default_rng(seed)
    arch = shape.architecture
    writer = GGUFWriter(str(path), arch, split_max_tensors=split_max_tensors)
    writer.add_name(name)
    writer.add_block_count(shape.n_layer)
    writer.add_context_length(shape.n_ctx_train)
    writer.add_embedding_length(shape.n_embd)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(shape.n_embd // shape.n_head)
    writer.add_file_type(1)  # MOSTLY_F16
    if shape.sliding_window:
        writer.add_sliding_window(shape.sliding_window)
    tokens, scores, types = _vocabulary(shape.n_vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    for name, np_shape in _tensor_shapes(shape):
        if len(np_shape) == 1:
            writer.add_tensor(name, np.ones(np_shape, dtype=np.float32))
        else:
            data = rng.standard_normal(np_shape, dtype=np.float32) * 0.02
            if never_ends and name == "output.weight":
                data[2, :] = 0.0  # the end-of-text token's row (eos id 2 below)
            writer.add_tensor(name, data.astype(np.float16), raw_dtype=GGMLQuantizationType.F16)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if split_max_tensors:
        parts = sorted(path.parent.glob(f"{path.stem}-*-of-*.gguf"))
        assert len(parts) > 1, "too few tensors to split"
        return parts[0]
    if truncate_data:
        with path.open("r+b") as stream:
            stream.truncate(path.stat().st_size // 2)
    return path


def write_tiny_bert_gguf(path: Path, *, n_embd: int = 64, pooling: int = 1, seed: int = 0) -> Path:
    """A 2-layer BERT-style encoder made for embeddings (``bert.pooling_type``; 1 = mean), with
    a WordPiece vocabulary of letters and a few words: the kind of model ``/v1/embeddings``
    serves that writes no text."""
    from gguf import PoolingType, TokenType

    rng = np.random.default_rng(seed)
    letters = [chr(code) for code in range(ord("a"), ord("z") + 1)]
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters]
    tokens += [f"##{letter}" for letter in letters] + ["the", "cat", "dog", "sat", "on", ".", ","]
    types = [TokenType.CONTROL] * 5 + [TokenType.NORMAL] * (len(tokens) - 5)
    n_ff, n_ctx, n_layer = 2 * n_embd, 512, 2
    writer = GGUFWriter(str(path), "bert")
    writer.add_name("tiny bert")
    writer.add_block_count(n_layer)
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(4)
    writer.add_layer_norm_eps(1e-12)
    writer.add_causal_attention(False)
    writer.add_pooling_type(PoolingType(pooling))
    writer.add_file_type(1)
    writer.add_tokenizer_model("bert")
    writer.add_token_list(tokens)
    writer.add_token_types([int(kind) for kind in types])
    writer.add_token_type_count(2)
    writer.add_pad_token_id(0)
    writer.add_unk_token_id(1)
    writer.add_bos_token_id(2)  # [CLS]
    writer.add_sep_token_id(3)
    writer.add_eos_token_id(3)
    writer.add_mask_token_id(4)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)

    def matrix(rows: int, columns: int) -> np.ndarray:
        return (rng.standard_normal((rows, columns), dtype=np.float32) * 0.05).astype(np.float16)

    def add(name: str, data: np.ndarray) -> None:
        raw = GGMLQuantizationType.F16 if data.dtype == np.float16 else None
        writer.add_tensor(name, data, raw_dtype=raw)

    ones, zeros = np.ones(n_embd, np.float32), np.zeros(n_embd, np.float32)
    add("token_embd.weight", matrix(len(tokens), n_embd))
    add("token_types.weight", np.zeros((2, n_embd), np.float32))
    add("position_embd.weight", matrix(n_ctx, n_embd))
    add("token_embd_norm.weight", ones)
    add("token_embd_norm.bias", zeros)
    for layer in range(n_layer):
        block = f"blk.{layer}."
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            add(f"{block}{name}.weight", matrix(n_embd, n_embd))
            add(f"{block}{name}.bias", zeros)
        add(f"{block}ffn_up.weight", matrix(n_ff, n_embd))
        add(f"{block}ffn_up.bias", np.zeros(n_ff, np.float32))
        add(f"{block}ffn_down.weight", matrix(n_embd, n_ff))
        add(f"{block}ffn_down.bias", zeros)
        for norm in ("attn_output_norm", "layer_output_norm"):
            add(f"{block}{norm}.weight", ones)
            add(f"{block}{norm}.bias", zeros)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
