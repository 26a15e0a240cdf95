"""Several replies at once in one worker (continuous batching), on real llama.cpp with the
tiny random-weight model: they run side by side, each with its own budget, stop strings and
cancel, a finished one frees its slot at once, and a prompt too long for a slot is refused."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop.engine.worker import (
    InferenceWorker,
    LoadSettings,
    ReplyStats,
    ReplyTicket,
    SamplingSettings,
    StopReason,
    UnknownToken,
    WorkerState,
)
from desktop.engine.worker.protocol import PromptTooLong
from tests.support import worker_helpers

endless_model = worker_helpers.endless_model

SLOTS = 3
LOAD = LoadSettings(ctx_tokens=8192, threads=1, parallel=SLOTS)


@pytest.fixture(scope="module")
def worker(endless_model: Path) -> Iterator[InferenceWorker]:
    with InferenceWorker() as running:
        info = running.load(endless_model, LOAD)
        assert info.parallel == SLOTS and info.ctx_tokens == 8192
        yield running


class Reply(threading.Thread):
    """One reply on its own thread, recording when each piece of text arrived."""

    def __init__(
        self,
        worker: InferenceWorker,
        prompt: str,
        sampling: SamplingSettings,
        *,
        stop: tuple[str, ...] = (),
        on_piece: Callable[[str], None] | None = None,
        ticket: ReplyTicket | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.worker, self.prompt, self.sampling, self.stop = worker, prompt, sampling, stop
        self.on_piece, self.ticket = on_piece, ticket
        self.arrivals: list[float] = []
        self.pieces: list[str] = []
        self.stats: ReplyStats | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        def piece(text: str) -> None:
            self.arrivals.append(time.monotonic())
            self.pieces.append(text)
            if self.on_piece is not None:
                self.on_piece(text)

        try:
            self.stats = self.worker.complete(
                self.prompt, self.sampling, on_token=piece, stop=self.stop, ticket=self.ticket
            )
        except BaseException as exc:
            self.error = exc

    def result(self) -> ReplyStats:
        self.join(120)
        assert self.error is None, self.error
        assert self.stats is not None
        return self.stats


def test_replies_run_side_by_side_each_with_its_own_budget(worker: InferenceWorker) -> None:
    budgets = (300, 120, 40)
    replies = [
        Reply(worker, f"story {n}: once upon a time", SamplingSettings.greedy(max_tokens=budget))
        for n, budget in enumerate(budgets)
    ]
    results = [reply.result() for reply in replies]
    for reply, stats, budget in zip(replies, results, budgets, strict=True):
        assert stats.generated_tokens == budget and stats.stop_reason is StopReason.MAX_TOKENS
        assert "".join(reply.pieces) == stats.text
    # the short replies finished while the long one was still streaming: they ran together
    long_reply = replies[0]
    assert long_reply.arrivals[0] < replies[2].arrivals[-1] < long_reply.arrivals[-1]
    assert worker.state is WorkerState.READY


def test_the_same_prompt_in_two_slots_gives_the_same_text(worker: InferenceWorker) -> None:
    """Each slot sees only its own KV cache: two copies of one greedy request agree."""
    sampling = SamplingSettings.greedy(max_tokens=60)
    first, second = (Reply(worker, "twin prompt here", sampling) for _ in range(2))
    assert first.result().text == second.result().text


def test_more_requests_than_slots_wait_and_a_cancelled_reply_frees_its_slot(
    worker: InferenceWorker,
) -> None:
    long = SamplingSettings.greedy(max_tokens=100_000)
    holders = [Reply(worker, f"holder {n}", long) for n in range(SLOTS)]
    waiting_until = time.monotonic() + 30
    while not all(h.arrivals for h in holders) and time.monotonic() < waiting_until:
        time.sleep(0.01)
    queued = Reply(worker, "queued one", SamplingSettings.greedy(max_tokens=5))
    time.sleep(0.5)
    assert not queued.arrivals and queued.is_alive()  # every slot is busy: it waits

    # a reply is cancelled by its own callback raising; the others go on
    class Leave(Exception):
        pass

    def leave(_text: str) -> None:
        raise Leave

    holders[0].on_piece = leave
    holders[0].join(30)
    assert isinstance(holders[0].error, Leave)
    assert queued.result().generated_tokens == 5  # it got the freed slot
    assert all(h.is_alive() for h in holders[1:])
    worker.cancel()  # cancel everything left
    for holder in holders[1:]:
        assert holder.result().stop_reason is StopReason.CANCELLED


def test_a_ticket_stops_its_own_reply_and_counts_its_tokens(worker: InferenceWorker) -> None:
    """The chat's two panes stop their own reply through a ticket, also one cancelled before
    its reply was sent."""
    long = SamplingSettings.greedy(max_tokens=100_000)
    kept, stopped = ReplyTicket(), ReplyTicket()
    keeps = Reply(worker, "keeps going", long, ticket=kept)
    stops = Reply(worker, "is stopped", long, ticket=stopped)
    deadline = time.monotonic() + 30
    while not (keeps.arrivals and stops.arrivals) and time.monotonic() < deadline:
        time.sleep(0.01)
    stopped.cancel()
    ended = stops.result()
    assert ended.stop_reason is StopReason.CANCELLED and ended.text == "".join(stops.pieces)
    assert 0 < stopped.streamed_tokens <= ended.generated_tokens  # the rest came with the end
    assert keeps.is_alive()  # the other reply goes on
    stopped.cancel()  # after the end: nothing happens
    early = ReplyTicket()
    early.cancel()
    assert Reply(worker, "never starts", long, ticket=early).result().stop_reason is (
        StopReason.CANCELLED
    )
    kept.cancel()
    assert keeps.result().stop_reason is StopReason.CANCELLED
    assert worker.state is WorkerState.READY


def test_stop_strings_are_per_reply(worker: InferenceWorker) -> None:
    sampling = SamplingSettings.greedy(max_tokens=40)
    plain = Reply(worker, "stop test", sampling).result().text
    stop = plain[10:12]
    cut, uncut = (
        Reply(worker, "stop test", sampling, stop=(stop,)),
        Reply(worker, "stop test", sampling),
    )
    assert cut.result().text == plain[: plain.find(stop)]
    assert uncut.result().text == plain


def test_a_prompt_too_long_for_one_slot_is_refused_before_any_work(
    worker: InferenceWorker,
) -> None:
    with pytest.raises(PromptTooLong, match="8192-token context"):
        worker.complete("word " * 9000, on_token=lambda _p: None)
    assert worker.state is WorkerState.READY
    reply = worker.complete(
        "short", SamplingSettings.greedy(max_tokens=3), on_token=lambda _p: None
    )
    assert reply.generated_tokens == 3


def test_a_chat_can_ask_for_room_left_for_the_reply(worker: InferenceWorker) -> None:
    """``reply_room``: the chat's rolling window asks for room for the reply; a prompt that
    fits but leaves less is refused the same way, saying so."""
    messages = [{"role": "user", "content": "word " * 1000}]  # about 4,000 tokens here
    with pytest.raises(PromptTooLong, match="leaves less than 6000 of the model's 8192"):
        worker.chat(messages, on_token=lambda _p: None, reply_room=6000)
    reply = worker.chat(
        messages, SamplingSettings.greedy(max_tokens=3), on_token=lambda _p: None, reply_room=100
    )
    assert reply.generated_tokens == 3


def test_a_logit_bias_lifts_or_bans_a_token(worker: InferenceWorker) -> None:
    """OpenAI's logit_bias through llama.cpp's logit-bias sampler: +100 makes a token the
    greedy choice every time, -100 keeps the unbiased choice out; an id outside the
    vocabulary is refused before any work."""
    greedy = SamplingSettings.greedy(max_tokens=8)
    lifted = dataclasses.replace(greedy, logit_bias=((100, 100.0),))
    reply = worker.complete("bias test", lifted, on_token=lambda _p: None)
    assert reply.text == worker.detokenize([100] * 8)

    def first_token(sampling: SamplingSettings) -> int:
        drawn: list[int] = []
        worker.complete(
            "bias test", sampling, on_token=lambda _p: None, logprobs=0,
            on_logprobs=lambda figures: drawn.extend(f.chosen.token for f in figures),
        )  # fmt: skip
        return drawn[0]

    first = first_token(greedy)
    assert first_token(dataclasses.replace(greedy, logit_bias=((first, -100.0),))) != first
    with pytest.raises(UnknownToken, match="logit_bias"):
        far = dataclasses.replace(greedy, logit_bias=((10**7, 1.0),))
        worker.complete("bias test", far, on_token=lambda _p: None)
    assert worker.state is WorkerState.READY
