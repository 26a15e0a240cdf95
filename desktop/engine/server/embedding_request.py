"""The body of ``/v1/embeddings`` → the texts to embed and how to send the vectors back.

``input`` is one string or a list of them (up to :data:`MAX_INPUTS`). Lists of token ids,
which OpenAI also takes, are refused: they are ids of OpenAI's tokenizer (LangChain sends them
unless told not to), meaningless to a local model. ``encoding_format`` is ``float`` (lists of
numbers) or ``base64`` (little-endian float32 bytes, what the official ``openai`` client asks
for by default); ``dimensions`` (cutting vectors short) is refused unless it is the model's own
size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from desktop.engine.server.api_errors import bad_request

#: Most texts one request may embed.
MAX_INPUTS = 2048
ENCODINGS = ("float", "base64")


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    texts: tuple[str, ...]
    encoding: str = "float"
    #: The size the client asked for (None: the model's own).
    dimensions: int | None = None


def parse_embeddings(body: Mapping[str, Any]) -> EmbeddingRequest:
    value = body.get("input", body.get("content"))  # llama.cpp's server also takes "content"
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise bad_request(
            "'input' must be a string or a non-empty list of strings.", "invalid_type", "input"
        )
    if len(texts) > MAX_INPUTS:
        raise bad_request(
            f"'input' holds {len(texts)} texts; at most {MAX_INPUTS} go in one request.",
            param="input",
        )
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise bad_request(
                f"input[{index}] is not a string. Lists of token ids are OpenAI's tokenizer's "
                "ids, which mean nothing to this model; send the text (LangChain: "
                "check_embedding_ctx_length=False).",
                "invalid_type",
                "input",
            )
        if not text:
            raise bad_request(f"input[{index}] is empty: there is nothing to embed.", param="input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise bad_request(
            f"'encoding_format' is {encoding!r}; it must be float or base64.",
            param="encoding_format",
        )
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool)):
        raise bad_request("'dimensions' must be a whole number.", "invalid_type", "dimensions")
    return EmbeddingRequest(tuple(texts), encoding, dimensions)
