"""The text quality is measured on, and how it is cut into chunks.

Chunking follows llama.cpp's ``perplexity`` tool (``tools/perplexity/perplexity.cpp``) so that
figures are comparable with it:

* the whole text is tokenized once, with the model's BOS token in front when its vocabulary
  asks for one, and without parsing special tokens;
* it is cut into ``len(tokens) // ctx`` consecutive chunks of exactly ``ctx`` tokens (the
  remainder is dropped), at most ``max_chunks`` of them;
* each chunk is evaluated from an empty KV cache, its first token replaced by BOS when the
  vocabulary adds one;
* only the second half is scored: the logits at positions ``ctx // 2`` … ``ctx - 2`` predict
  the tokens at ``ctx // 2 + 1`` … ``ctx - 1``, so every scored token has at least half a
  context of history. That is ``ctx - 1 - ctx // 2`` scored positions per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converter.errors import QuantdeskError
from converter.resources import resource_path
from desktop.engine.text_files import PlainText, read_plain_text

#: The default measurement: 512-token chunks (llama.cpp's perplexity default) and at most
#: this many of them. See docs/benchmarks.md for why this amount of text.
DEFAULT_CTX_TOKENS = 512
DEFAULT_MAX_CHUNKS: int | None = 8

#: Public-domain English prose shipped with the app (see the README beside it).
BUNDLED_TEXT_PATH = resource_path("eval", "the_time_machine.txt")


class EvalTextError(QuantdeskError):
    """The evaluation text cannot be read or is too short for the chosen context."""


#: A text to measure on, with the hash that keys cached results.
EvalText = PlainText


def load_eval_text(path: Path | None = None) -> EvalText:
    """A UTF-8 text file or a folder of them, or the bundled text when ``path`` is None."""
    source = BUNDLED_TEXT_PATH if path is None else Path(path)
    return read_plain_text(source, role="evaluation text", error=EvalTextError)


def as_eval_text(text: str | EvalText | None) -> EvalText:
    """Accept the bundled text (None), a string, or an :class:`EvalText`."""
    if text is None:
        return load_eval_text()
    if isinstance(text, EvalText):
        return text
    if not text.strip():
        raise EvalTextError("The evaluation text is empty.")
    return EvalText(text=text, name="given text")


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """Where the scored positions of each chunk are (see the module docstring)."""

    ctx_tokens: int
    n_chunks: int

    @property
    def first_scored(self) -> int:
        """Position whose logits are scored first (they predict the token after it)."""
        return self.ctx_tokens // 2

    @property
    def scored_per_chunk(self) -> int:
        return self.ctx_tokens - 1 - self.first_scored

    @property
    def scored_total(self) -> int:
        return self.n_chunks * self.scored_per_chunk


def plan_chunks(n_tokens: int, ctx_tokens: int, max_chunks: int | None) -> ChunkPlan:
    """How many ``ctx_tokens`` chunks a text of ``n_tokens`` gives; at least two are needed."""
    if ctx_tokens < 8:
        raise EvalTextError(f"The context size must be at least 8 tokens, not {ctx_tokens}.")
    if max_chunks is not None and max_chunks < 1:
        raise EvalTextError(f"The number of chunks must be at least 1, not {max_chunks}.")
    available = n_tokens // ctx_tokens
    if available < 2:
        raise EvalTextError(
            f"The evaluation text has only {n_tokens} tokens; a context of {ctx_tokens} needs "
            f"at least {2 * ctx_tokens}. Use a longer text or a smaller context."
        )
    n_chunks = available if max_chunks is None else min(available, max_chunks)
    return ChunkPlan(ctx_tokens=ctx_tokens, n_chunks=n_chunks)


def chunk_tokens(tokens: list[int], plan: ChunkPlan, bos_token: int | None) -> list[list[int]]:
    """The token lists llama.cpp evaluates: consecutive chunks, first token replaced by BOS."""
    chunks = []
    for index in range(plan.n_chunks):
        start = index * plan.ctx_tokens
        chunk = list(tokens[start : start + plan.ctx_tokens])
        if bos_token is not None:
            chunk[0] = bos_token
        chunks.append(chunk)
    return chunks
