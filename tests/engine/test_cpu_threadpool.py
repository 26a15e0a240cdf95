"""The persistent CPU thread pool attached to llama.cpp contexts (as llama.cpp's tools do)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from converter.child_process import run_in_child
from tests.support import worker_helpers

tiny_model = worker_helpers.tiny_model


def logits_after(_emit: Any, path: str, threads: int, batch_threads: int, pool: bool) -> dict:
    """In a child: whether a pool was attached, and the logits after a prompt (a batch) and
    after each of 3 single tokens (generation steps)."""
    from desktop.engine.llama_loading import open_llama

    llama = open_llama(
        path,
        n_ctx=256,
        n_threads=threads,
        n_threads_batch=batch_threads,
        cpu_threadpool=pool,
    )
    try:
        callbacks = len(llama._stack._exit_callbacks)
        llama.eval(llama.tokenize(b"a b c d e f", add_bos=True))
        rows = [llama.scores[llama.n_tokens - 1].tolist()]
        for token in (5, 17, 42):
            llama.eval([token])
            rows.append(llama.scores[llama.n_tokens - 1].tolist())
        return {"callbacks": callbacks, "rows": rows}
    finally:
        llama.close()


def test_pooled_contexts_compute_what_llama_cpp_python_computes(tiny_model: Path) -> None:
    plain = run_in_child(logits_after, str(tiny_model), 2, 2, False, what="plain")
    pooled = run_in_child(logits_after, str(tiny_model), 2, 2, True, what="one pool")
    split = run_in_child(logits_after, str(tiny_model), 1, 2, True, what="two pools")
    # The pool registers exactly one more clean-up on the Llama: it was attached.
    assert pooled["callbacks"] == split["callbacks"] == plain["callbacks"] + 1
    # The same threads split the same work the same way: identical logits.
    assert pooled["rows"] == plain["rows"]
    # One generation thread against two: the same values up to float rounding.
    for got, want in zip(split["rows"], plain["rows"], strict=True):
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < 1e-4
