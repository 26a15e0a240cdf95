"""Greedy tokens drawn by llama.cpp in the decode's graph (its backend sampling) are the ones
the host's argmax draws: on real llama.cpp with the tiny random-weight model (on the CPU, where
the loop would not choose it, forced on), for replies alone and beside replies that need the
logits (log-probabilities, a seeded draw) in the same batches, and when a slot changes from
one kind to the other and back (a sampler is attached afresh)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from desktop.engine.worker.decode_loop import DecodeLoop, SendPiece
from desktop.engine.worker.device_draws import DeviceDraws
from desktop.engine.worker.logits_rows import LogitsRows
from desktop.engine.worker.protocol import Finished, GenerateRequest
from desktop.engine.worker.settings import SamplingSettings
from tests.support.worker_helpers import open_endless_llama

SLOTS = 3


@pytest.fixture(name="llama", scope="module")
def llama_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    llama = open_endless_llama(tmp_path_factory.mktemp("device"), slots=SLOTS)
    yield llama
    llama.close()


def _greedy(prompt: str, request_id: int, logprobs: int | None = None) -> GenerateRequest:
    sampling = SamplingSettings.greedy(max_tokens=40)
    return GenerateRequest(prompt, sampling, False, request_id=request_id, logprobs=logprobs)


def _seeded(prompt: str, request_id: int) -> GenerateRequest:
    sampling = SamplingSettings(
        temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=7, max_tokens=40
    )
    return GenerateRequest(prompt, sampling, False, request_id=request_id)


#: Waves of requests answered one after another by one loop: greedy replies alone; the same
#: slots with replies that need the logits beside a greedy one; greedy again everywhere.
WAVES = (
    (_greedy("first prompt", 1), _greedy("second prompt", 2), _greedy("a third one", 3)),
    (_greedy("first prompt", 4, logprobs=2), _seeded("second prompt", 5), _greedy("again", 6)),
    (_greedy("first prompt", 7), _greedy("second prompt", 8), _greedy("a third one", 9)),
)


def _answers(llama: Any, *, draw_on_device: bool) -> dict[int, tuple[str, list[Any]]]:
    events: list[object] = []
    pieces: dict[int, list[Any]] = {}

    def open_stream(request_id: int) -> tuple[SendPiece, Callable[[], None]]:
        kept = pieces.setdefault(request_id, [])
        return (lambda _piece, logprobs=(): kept.extend(logprobs)), (lambda: None)

    loop = DecodeLoop(
        llama,
        slots=SLOTS,
        send=events.append,
        open_stream=open_stream,
        cancelled=lambda: False,
        draw_threads=1,
        draw_on_device=draw_on_device,
    )
    try:
        for wave in WAVES:
            for request in wave:
                loop.submit(request)
            while loop.busy:
                loop.step()
    finally:
        loop.close()
    finished = {e.request_id: e for e in events if isinstance(e, Finished)}
    return {rid: (f.timings.text, pieces.get(rid, [])) for rid, f in finished.items()}


def test_device_draws_give_the_host_draws_tokens(llama: Any) -> None:
    on_device = _answers(llama, draw_on_device=True)
    on_host = _answers(llama, draw_on_device=False)
    assert on_device == on_host
    assert len(on_device) == 9
    assert len({on_device[rid][0] for rid in (1, 2, 3)}) == 3  # the prompts really differ
    assert on_device[4][1]  # the reply that asked for log-probabilities got them


def test_a_device_draw_is_the_argmax_of_the_same_decode(llama: Any) -> None:
    import llama_cpp

    ctx = llama.ctx
    memory = llama_cpp.llama_get_memory(ctx)
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(llama.model))
    prompt = llama.tokenize(b"which token comes next", add_bos=True)

    def decode() -> None:
        llama_cpp.llama_memory_clear(memory, True)
        tokens = (llama_cpp.llama_token * len(prompt))(*prompt)
        assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(tokens, len(prompt))) == 0

    draws = DeviceDraws(ctx, enabled=True)
    try:
        assert draws.use(0, wanted=True)
        decode()
        drawn = draws.token(len(prompt) - 1)
        assert not draws.use(0, wanted=False)
        decode()
        assert drawn == int(LogitsRows(ctx, n_vocab).row(-1).argmax())
        assert draws.use(0, wanted=True)  # attached again: a new chain, no abort
    finally:
        draws.close()
        llama_cpp.llama_memory_clear(memory, True)


def test_device_draws_stay_off_when_not_enabled(llama: Any) -> None:
    draws = DeviceDraws(llama.ctx, enabled=False)
    assert not draws.use(0, wanted=True)
    draws.close()
