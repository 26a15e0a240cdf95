"""Spelling out drawn tokens while the next batch decodes (the GPU order) changes nothing a
client sees: on real llama.cpp with the tiny random-weight model, replies ending at a stop
string, at their budget and by cancel, with log-probabilities, stream the same pieces and end
the same way as in the CPU order; a stopped reply's slot serves the next request as before."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from desktop.engine.worker.decode_loop import DecodeLoop, SendPiece
from desktop.engine.worker.protocol import Finished, GenerateRequest
from desktop.engine.worker.results import StopReason
from desktop.engine.worker.settings import SamplingSettings
from tests.support.worker_helpers import open_endless_llama

SLOTS = 3
PROMPT = "overlap test"


@pytest.fixture(name="llama", scope="module")
def llama_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    llama = open_endless_llama(tmp_path_factory.mktemp("overlap"), slots=SLOTS)
    yield llama
    llama.close()


class _Run:
    """A decode loop over ``llama`` that records every piece and event per request."""

    def __init__(self, llama: Any, *, overlap: bool) -> None:
        self.events: list[object] = []
        self.pieces: dict[int, list[tuple[str, tuple[Any, ...]]]] = {}
        self.loop = DecodeLoop(
            llama,
            slots=SLOTS,
            send=self.events.append,
            open_stream=self._open_stream,
            cancelled=lambda: False,
            draw_threads=1,
            overlap=overlap,
        )

    def _open_stream(self, request_id: int) -> tuple[SendPiece, Callable[[], None]]:
        pieces = self.pieces.setdefault(request_id, [])
        return (lambda piece, logprobs=(): pieces.append((piece, logprobs))), (lambda: None)

    def finished(self) -> dict[int, Finished]:
        return {e.request_id: e for e in self.events if isinstance(e, Finished)}

    def answer(self, *requests: GenerateRequest, cancel_after_steps: int | None = None) -> None:
        for request in requests:
            self.loop.submit(request)
        steps = 0
        while self.loop.busy:
            self.loop.step()
            steps += 1
            if steps == cancel_after_steps:
                self.loop.cancel(requests[-1].request_id)


def _greedy(max_tokens: int) -> SamplingSettings:
    return SamplingSettings.greedy(max_tokens=max_tokens)


def _plain_reply(llama: Any) -> str:
    run = _Run(llama, overlap=False)
    run.answer(GenerateRequest(PROMPT, _greedy(48), False, request_id=1))
    run.loop.close()
    return run.finished()[1].timings.text


def _requests(stop: str) -> tuple[GenerateRequest, ...]:
    seeded = SamplingSettings(
        temperature=1.0, top_k=20, top_p=0.9, min_p=0.0, seed=7, max_tokens=200
    )
    return (
        GenerateRequest(PROMPT, _greedy(48), False, stop_strings=(stop,), request_id=1),
        GenerateRequest("a budget", _greedy(17), False, request_id=2, logprobs=2),
        GenerateRequest("a cancelled one", seeded, False, request_id=3, logprobs=1),
    )


def _outcome(run: _Run) -> dict[int, tuple[Any, ...]]:
    return {
        request_id: (
            finished.timings.text,
            finished.timings.stop_reason,
            finished.timings.generated_tokens,
            tuple(run.pieces[request_id]),
        )
        for request_id, finished in run.finished().items()
    }


def test_the_gpu_order_streams_and_ends_replies_as_the_cpu_order(llama: Any) -> None:
    text = _plain_reply(llama)
    stop = text[len(text) // 2 : len(text) // 2 + 3]
    assert stop.strip(), "the reply should have text to stop at"
    outcomes = []
    for overlap in (False, True):
        run = _Run(llama, overlap=overlap)
        run.answer(*_requests(stop), cancel_after_steps=30)
        outcomes.append(_outcome(run))
        # The stopped reply's slot goes on with the conversation, reusing its cache.
        stopped = run.finished()[1].timings.text
        run.answer(GenerateRequest(PROMPT + stopped + "!", _greedy(8), False, request_id=4))
        follow_up = run.finished()[4].timings
        assert follow_up.cached_prompt_tokens > 0
        outcomes[-1][4] = (follow_up.text, follow_up.cached_prompt_tokens)
        run.loop.close()
    cpu_order, gpu_order = outcomes
    assert gpu_order == cpu_order
    assert cpu_order[1][1] is StopReason.EOS and stop not in cpu_order[1][0]
    assert cpu_order[1][0] == text[: text.index(stop)]
    assert cpu_order[2][1] is StopReason.MAX_TOKENS and cpu_order[2][2] == 17
    assert cpu_order[3][1] is StopReason.CANCELLED and 0 < cpu_order[3][2] < 200
    assert all(logprobs for _piece, logprobs in cpu_order[2][3] if _piece)


def test_a_request_arriving_mid_reply_joins_the_same_way_in_both_orders(llama: Any) -> None:
    """In the GPU order a step ends with a batch still decoding: a request submitted then is
    admitted after that batch's tokens are drawn, and its prompt shares the next batch with
    them. Its reply, and the running ones, are the same as in the CPU order; so is a reply
    cancelled while its token is being decoded."""
    outcomes = []
    for overlap in (False, True):
        run = _Run(llama, overlap=overlap)
        run.loop.submit(GenerateRequest(PROMPT, _greedy(40), False, request_id=1))
        run.loop.submit(GenerateRequest("long one", _greedy(60), False, request_id=2))
        steps = 0
        while run.loop.busy:
            run.loop.step()
            steps += 1
            if steps == 5:  # both replies under way
                run.loop.submit(GenerateRequest("late", _greedy(12), False, request_id=3))
            if steps == 25:
                run.loop.cancel(2)
        outcomes.append(_outcome(run))
        run.loop.close()
    cpu_order, gpu_order = outcomes
    assert gpu_order == cpu_order
    assert cpu_order[1][1] is StopReason.MAX_TOKENS and cpu_order[1][2] == 40
    assert cpu_order[3][1] is StopReason.MAX_TOKENS and cpu_order[3][2] == 12
    assert cpu_order[2][1] is StopReason.CANCELLED and 0 < cpu_order[2][2] < 60
