"""A conversation's stored sampling settings, as the inference worker takes them."""

from __future__ import annotations

from desktop.engine.worker import SamplingSettings
from desktop.services.app_settings import Sampling


def test_every_sampling_field_reaches_the_worker_and_the_context_size_does_not() -> None:
    stored = Sampling(
        temperature=0.3,
        top_p=0.8,
        top_k=12,
        min_p=0.02,
        repeat_penalty=1.3,
        max_tokens=77,
        seed=5,
        context_tokens=1024,
    )
    assert Sampling.from_json(stored.to_json()).engine_settings() == SamplingSettings(
        temperature=0.3, top_p=0.8, top_k=12, min_p=0.02, repeat_penalty=1.3, seed=5, max_tokens=77
    )
