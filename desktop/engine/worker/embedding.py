"""Text embeddings from the open model, in the child (the local API's ``/v1/embeddings``).

A second llama.cpp context on the same weights, in embeddings mode, is made on the first
request and freed with the model: the replies' context and its slots stay as they are, and a
request is answered between two decode steps, also while replies run. A model made for
embeddings (its GGUF names a pooling type: BERT-style encoders, nomic-embed …) pools as it was
trained; a chat model gets the mean of its last layer's token states, as llama.cpp's server
gives one. Each vector is scaled to unit length (OpenAI's are), so a dot product is the
cosine similarity. Each text is embedded whole, in one batch: a text longer than the
embedding context is refused, not cut. A model made for embeddings writes no text: a reply
asked of it is refused with :class:`EmbeddingModelOnly`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from converter.errors import QuantdeskError

#: Tokens one text may have (the embedding context; chat models are trained on longer texts,
#: but embeddings of longer ones say less and cost KV memory beside the replies').
EMBED_CTX_TOKENS = 4096


class TextTooLong(QuantdeskError):
    """A text has more tokens than the embedding context holds."""


class EmbeddingModelOnly(QuantdeskError):
    """A reply was asked of a model made for embeddings."""


def is_embedding_model(metadata: Mapping[str, str]) -> bool:
    """Whether a GGUF is made for embeddings: it names the pooling of its token states
    (``{arch}.pooling_type``: BERT-style encoders, nomic-embed, Qwen3-Embedding …)."""
    architecture = metadata.get("general.architecture", "")
    return f"{architecture}.pooling_type" in metadata


def _attends_both_ways(metadata: Mapping[str, str]) -> bool:
    """An encoder (BERT-style: ``{arch}.attention.causal`` false) runs with llama_encode."""
    architecture = metadata.get("general.architecture", "")
    return metadata.get(f"{architecture}.attention.causal") == "false"


class TextEmbedder:
    """Embeds texts with ``llama``'s model (a llama-cpp-python ``Llama``); :meth:`close`
    frees the embedding context, before the model goes."""

    def __init__(self, llama: Any) -> None:
        import llama_cpp

        self._c = llama_cpp
        self._llama = llama
        self._ctx: Any = None
        self._batch: Any = None
        model = llama.model
        self.n_ctx = min(EMBED_CTX_TOKENS, int(llama_cpp.llama_model_n_ctx_train(model)))
        self.dimensions = int(llama_cpp.llama_model_n_embd_out(model))
        self._encoder_only = _attends_both_ways(llama.metadata) or bool(
            llama_cpp.llama_model_has_encoder(model)
            and not llama_cpp.llama_model_has_decoder(model)
        )

    def embed(self, texts: Sequence[str]) -> tuple[list[np.ndarray], int]:
        """One unit-length float32 vector per text, and the tokens read in all."""
        token_lists = [self._tokens(index, text) for index, text in enumerate(texts)]
        vectors = [self._embed_tokens(tokens) for tokens in token_lists]
        return vectors, sum(len(tokens) for tokens in token_lists)

    def _tokens(self, index: int, text: str) -> list[int]:
        tokens = self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        if not tokens:
            raise QuantdeskError(f"Input {index} is empty: there is nothing to embed.")
        if len(tokens) > self.n_ctx:
            raise TextTooLong(
                f"Input {index} is {len(tokens)} tokens long; this model embeds at most "
                f"{self.n_ctx} tokens at once. Split the text into shorter pieces."
            )
        return tokens

    def _embed_tokens(self, tokens: list[int]) -> np.ndarray:
        c = self._c
        ctx = self._context()
        c.llama_memory_clear(c.llama_get_memory(ctx), True)
        batch = self._batch
        for row, token in enumerate(tokens):
            batch.token[row] = token
            batch.pos[row] = row
            batch.n_seq_id[row] = 1
            batch.seq_id[row][0] = 0
            batch.logits[row] = True
        batch.n_tokens = len(tokens)
        run = c.llama_encode if self._encoder_only else c.llama_decode
        status = run(ctx, batch)
        if status != 0:
            raise QuantdeskError(f"llama.cpp could not embed the text (error {status}).")
        pointer = c.llama_get_embeddings_seq(ctx, 0)
        if not pointer:
            raise QuantdeskError("llama.cpp gave no pooled embedding for the text.")
        vector = np.ctypeslib.as_array(pointer, shape=(self.dimensions,)).astype(np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def _context(self) -> Any:
        """The embedding context, made on first use."""
        if self._ctx is not None:
            return self._ctx
        c = self._c
        params = c.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = self.n_ctx
        params.n_seq_max = 1
        params.embeddings = True
        # A model made for embeddings names its pooling; a chat model is averaged.
        params.pooling_type = (
            c.LLAMA_POOLING_TYPE_UNSPECIFIED
            if is_embedding_model(self._llama.metadata)
            else c.LLAMA_POOLING_TYPE_MEAN
        )
        replies = self._llama.context_params
        params.n_threads = replies.n_threads_batch
        params.n_threads_batch = replies.n_threads_batch
        params.flash_attn_type = replies.flash_attn_type
        ctx = c.llama_init_from_model(self._llama.model, params)
        if not ctx:
            raise QuantdeskError(
                f"llama.cpp could not make a {self.n_ctx}-token context for embeddings: "
                "probably not enough memory beside the model."
            )
        self._ctx = ctx
        self._batch = c.llama_batch_init(self.n_ctx, 0, 1)
        return ctx

    def close(self) -> None:
        if self._batch is not None:
            batch, self._batch = self._batch, None
            self._c.llama_batch_free(batch)
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            self._c.llama_free(ctx)


def vector_bytes(vector: np.ndarray) -> bytes:
    """A vector as little-endian float32 bytes (what travels to the parent, and OpenAI's
    base64 encoding)."""
    return np.asarray(vector, dtype="<f4").tobytes()
