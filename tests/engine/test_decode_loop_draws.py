"""The decode loop draws the tokens of sampled replies on several threads at once (the draws
release the GIL); on real llama.cpp with the tiny random-weight model, the tokens are those a
single thread draws from the same batches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desktop.engine.worker.decode_loop import DecodeLoop, SendPiece
from desktop.engine.worker.protocol import Finished, GenerateRequest
from desktop.engine.worker.settings import SamplingSettings
from tests.support.worker_helpers import open_endless_llama

SLOTS = 3


def _no_stream(_request_id: int) -> tuple[SendPiece, Callable[[], None]]:
    return (lambda _piece, _logprobs=(): None), (lambda: None)


def test_threaded_draws_give_the_tokens_one_thread_draws(tmp_path: Path) -> None:
    llama = open_endless_llama(tmp_path, slots=SLOTS)

    def replies(draw_threads: int) -> list[str]:
        events: list[object] = []
        loop = DecodeLoop(
            llama,
            slots=SLOTS,
            send=events.append,
            open_stream=_no_stream,
            cancelled=lambda: False,
            draw_threads=draw_threads,
        )
        for seed in range(SLOTS):  # all submitted before the first step: the same batches
            sampling = SamplingSettings(
                temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=seed, max_tokens=80
            )
            loop.submit(GenerateRequest("draw test", sampling, False, request_id=seed + 1))
        while loop.busy:
            loop.step()
        loop.close()
        finished = sorted(
            (event for event in events if isinstance(event, Finished)),
            key=lambda event: event.request_id,
        )
        return [event.timings.text for event in finished]

    try:
        threaded = replies(SLOTS)
        assert threaded == replies(1)
    finally:
        llama.close()
    assert len(threaded) == SLOTS and len(set(threaded)) == SLOTS  # the seeds really differ
