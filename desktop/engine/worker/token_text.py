"""Tokenize and detokenize with the loaded model, in the child (llama-server's ``/tokenize``
and ``/detokenize``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from converter.errors import QuantdeskError
from desktop.engine.worker.protocol import DetokenizeRequest, TokenizeRequest, TokenText


class UnknownToken(QuantdeskError):
    """A token id outside the loaded model's vocabulary."""


def require_known(tokens: Iterable[int], vocabulary: int, where: str = "") -> None:
    """Refuse a token id outside ``vocabulary`` (llama.cpp would index out of bounds)."""
    for token in tokens:
        if not 0 <= token < vocabulary:
            raise UnknownToken(
                f"Token {token}{where} is not in this model's vocabulary (0 to {vocabulary - 1})."
            )


def token_text(llama: Any, request: TokenizeRequest | DetokenizeRequest) -> TokenText:
    """The answer to ``request`` on the open model ``llama`` (a llama-cpp-python ``Llama``)."""
    if isinstance(request, TokenizeRequest):
        tokens = llama.tokenize(
            request.text.encode("utf-8"),
            add_bos=request.add_special,
            special=request.parse_special,
        )
        pieces = tuple(llama.detokenize([token], special=True) for token in tokens)
        return TokenText(request.request_id, tokens=tuple(tokens), pieces=pieces)
    require_known(request.tokens, int(llama.n_vocab()))
    text = llama.detokenize(list(request.tokens), special=True)
    return TokenText(request.request_id, text=text.decode("utf-8", errors="replace"))
