"""What a comparison of levels measures with: light enough for the GUI to build before it runs."""

from __future__ import annotations

from dataclasses import dataclass

from desktop.engine.measure.eval_text import DEFAULT_CTX_TOKENS, DEFAULT_MAX_CHUNKS, EvalText

#: Speed defaults of a ladder: llama-bench's pp512, and 64 generated tokens, each run twice
#: after a warm-up. Generation is memory-bound and steady, so 64 tokens already vary by only
#: a few percent between runs, and a 7-level ladder stays within minutes on two cores.
DEFAULT_SPEED_REPEATS = 2
DEFAULT_GEN_TOKENS = 64


@dataclass(frozen=True, slots=True)
class MeasureOptions:
    """How a comparison measures: the text and amount of it, the speed run, threads, cache."""

    text: str | EvalText | None = None  # None: the bundled evaluation text
    ctx_tokens: int = DEFAULT_CTX_TOKENS
    max_chunks: int | None = DEFAULT_MAX_CHUNKS
    speed_repeats: int = DEFAULT_SPEED_REPEATS
    threads: int | None = None
    use_cache: bool = True
    prompt_tokens: int = 512
    gen_tokens: int = DEFAULT_GEN_TOKENS


#: The app's defaults (what a measurement uses unless told otherwise).
DEFAULT_MEASURE = MeasureOptions()
