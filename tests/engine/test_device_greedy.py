"""Greedy tokens drawn inside llama.cpp's graph (backend sampling) are the host argmax's tokens.

The decode loop does this on a GPU only; the CPU backend runs the same graph, so real
llama.cpp with the tiny random-weight model checks here that replies drawn that way, alone or
beside replies drawn on the host (seeded sampling, log-probabilities) in one batch, get the
same text as when every token is drawn on the host, and that a slot's chain is taken off for a
reply that needs the logits and put back for the next greedy one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from desktop.engine.worker.decode_loop import DecodeLoop
from desktop.engine.worker.loader import load_model
from desktop.engine.worker.protocol import Finished, GenerateRequest
from desktop.engine.worker.settings import LoadSettings, SamplingSettings
from tests.support.gguf_factory import write_tiny_gguf

SLOTS = 3


@pytest.fixture(name="llama", scope="module")
def llama_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    model = write_tiny_gguf(tmp_path_factory.mktemp("device") / "endless.gguf", never_ends=True)
    llama, _info = load_model(
        model,
        LoadSettings(ctx_tokens=1024, threads=1, parallel=SLOTS),
        on_progress=lambda _fraction: None,
        cancelled=lambda: False,
    )
    yield llama
    llama.close()


def _loop(llama: Any, *, device: bool, events: list[object]) -> DecodeLoop:
    return DecodeLoop(
        llama,
        slots=SLOTS,
        send=events.append,
        open_stream=lambda _id: ((lambda _piece, _logprobs=(): None), (lambda: None)),
        cancelled=lambda: False,
        draw_threads=1,
        overlap=False,
        device_greedy=device,
    )


def _answer(loop: DecodeLoop, *requests: GenerateRequest) -> None:
    for request in requests:
        loop.submit(request)
    while loop.busy:
        loop.step()


def _texts(events: list[object]) -> dict[int, str]:
    return {e.request_id: e.timings.text for e in events if isinstance(e, Finished)}


def _greedy(request_id: int, prompt: str = "device draw", *, logprobs: int | None = None):
    return GenerateRequest(
        prompt,
        SamplingSettings.greedy(max_tokens=48),
        False,
        request_id=request_id,
        logprobs=logprobs,
    )


def _seeded(request_id: int) -> GenerateRequest:
    sampling = SamplingSettings(temperature=0.8, top_k=40, seed=11, max_tokens=32)
    return GenerateRequest("device draw", sampling, False, request_id=request_id)


def test_one_batch_mixing_device_and_host_draws_gives_the_host_texts(llama: Any) -> None:
    requests = (_greedy(1), _seeded(2), _greedy(3, "another prompt", logprobs=2))
    texts = {}
    for device in (False, True):
        events: list[object] = []
        loop = _loop(llama, device=device, events=events)
        _answer(loop, *requests)
        loop.close()
        texts[device] = _texts(events)
    assert texts[True] == texts[False]
    assert all(len(text) > 8 for text in texts[True].values())


def test_a_slot_gives_its_chain_up_for_a_reply_that_needs_the_logits(llama: Any) -> None:
    requests = (_greedy(1), _seeded(2), _greedy(3, logprobs=1), _greedy(4))
    host_events: list[object] = []
    host = _loop(llama, device=False, events=host_events)
    for request in requests:
        _answer(host, request)
    host.close()
    # One loop at a time on the context: a chain attached to a sequence serves every caller.
    events: list[object] = []
    loop = _loop(llama, device=True, events=events)
    device = loop._device_greedy
    assert device is not None
    attached: list[bool] = []
    for request in requests:
        _answer(loop, request)
        attached.append(device.attached(0))  # one request at a time: the first slot
    loop.close()
    assert attached == [True, False, False, True]
    assert _texts(events) == _texts(host_events)
    assert not device.attached(0)  # closing the loop takes every chain off
