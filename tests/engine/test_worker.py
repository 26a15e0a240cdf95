"""InferenceWorker on real llama.cpp with tiny random-weight models: load, stream, stats,
chat templates, and agreement with llama-cpp-python's own generation."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import gguf
import jinja2
import jinja2.ext
import jinja2.sandbox
import pytest

from converter.child_process import run_in_child
from converter.progress import Progress
from desktop.engine.worker import (
    InferenceWorker,
    LoadSettings,
    SamplingSettings,
    StopReason,
    WorkerState,
)
from desktop.engine.worker.chat_format import MISSING_TEMPLATE_NOTE
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support import worker_helpers

tiny_model = worker_helpers.tiny_model

LOAD = LoadSettings(ctx_tokens=4096, threads=1)
MESSAGES = [
    {"role": "user", "content": "Hello there"},
    {"role": "assistant", "content": "Hi! How can I help?"},
    {"role": "user", "content": "Tell me a story"},
]


@pytest.fixture(scope="module")
def llama31_model(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    return with_chat_template(
        tiny_model, "meta-llama-Llama-3.1-8B-Instruct.jinja", tmp_path_factory
    )


@pytest.fixture(scope="module")
def loaded(tiny_model: Path) -> Iterator[InferenceWorker]:
    with InferenceWorker() as worker:
        worker.load(tiny_model, LOAD)
        yield worker


def with_chat_template(source: Path, template_name: str, factory: pytest.TempPathFactory) -> Path:
    """A copy of ``source`` with a real chat template in its metadata, written by gguf-py's tool."""
    target = factory.mktemp("templated") / f"{Path(template_name).stem}.gguf"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gguf.scripts.gguf_new_metadata",
            str(source),
            str(target),
            "--chat-template-file",
            str(CHAT_TEMPLATE_FIXTURES / template_name),
            "--force",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return target


def render_with_jinja(template: str, messages: list[dict[str, str]]) -> str:
    """The reference: the template rendered the way transformers' apply_chat_template does."""

    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    return env.from_string(template).render(
        messages=messages,
        bos_token="<s>",
        eos_token="</s>",
        add_generation_prompt=True,
        raise_exception=raise_exception,
        strftime_now=lambda fmt: datetime.now().strftime(fmt),
    )


def llama_cpp_chat(
    _emit: Any, path: str, messages: list[dict[str, str]], prompt: str, n: int
) -> dict:
    """In a child process: llama-cpp-python's prompt size for ``messages`` (its own chat
    handling of the GGUF template), and its greedy continuation of ``prompt``, detokenized
    as a whole (``create_completion`` drops invalid UTF-8, so its text cannot be compared)."""
    from desktop.engine.llama_loading import open_llama

    llama = open_llama(path, n_ctx=4096, n_threads=1)
    try:
        usage = llama.create_chat_completion(messages=messages, max_tokens=1)["usage"]
        prompt_tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        generated: list[int] = []
        for token in llama.generate(prompt_tokens, temp=0.0, repeat_penalty=1.0):
            generated.append(token)
            if len(generated) == n:
                break
        text = llama.detokenize(generated, prev_tokens=prompt_tokens).decode(
            "utf-8", errors="replace"
        )
        return {"prompt_tokens": usage["prompt_tokens"], "text": text}
    finally:
        llama.close()


def llama_cpp_completion(_emit: Any, path: str, prompt: str, kwargs: dict) -> dict:
    """llama-cpp-python's own raw completion, in a child process."""
    from desktop.engine.llama_loading import open_llama

    llama = open_llama(path, n_ctx=4096, n_threads=1)
    try:
        return dict(llama.create_completion(prompt, **kwargs))
    finally:
        llama.close()


def test_load_reports_progress_and_what_llama_cpp_opened(tiny_model: Path) -> None:
    events: list[Progress] = []
    with InferenceWorker() as worker:
        assert worker.state is WorkerState.IDLE
        info = worker.load(
            tiny_model, LoadSettings(ctx_tokens=1024, threads=1), on_progress=events.append
        )
        assert worker.state is WorkerState.READY
        stats = worker.stats()
    reader = gguf.GGUFReader(tiny_model)
    assert info.model.n_params == sum(int(t.n_elements) for t in reader.tensors)
    assert (info.model.architecture, info.model.file_type, info.model.n_layers) == (
        "llama",
        "F16",
        2,
    )
    assert info.model.name == "tiny random test model"
    assert info.ctx_tokens == 1024 and info.gpu_layers == 0 and info.model.ctx_train_tokens == 4096
    assert not info.chat_template.from_model and MISSING_TEMPLATE_NOTE in info.notes
    fractions = [event.fraction for event in events]
    assert {event.stage for event in events} == {"loading"}  # the job type every step uses
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert stats.pid is not None and stats.ram_bytes and stats.ram_bytes > info.model.size_bytes
    assert stats.vram_bytes is None


def test_by_default_a_model_runs_one_thread_per_physical_core(tiny_model: Path) -> None:
    """As llama.cpp's tools do; llama-cpp-python alone would take half the logical CPUs for
    generation (one thread on a 2-core machine) and all of them for prompts."""
    import psutil

    from desktop.engine.worker.loader import load_model

    llama, _info = load_model(
        tiny_model,
        LoadSettings(ctx_tokens=256),
        on_progress=lambda _fraction: None,
        cancelled=lambda: False,
    )
    try:
        params = llama.context_params
        physical = psutil.cpu_count(logical=False)
        assert physical and (params.n_threads, params.n_threads_batch) == (physical, physical)
    finally:
        llama.close()


def test_chat_streams_pieces_that_join_to_the_reply(loaded: InferenceWorker) -> None:
    pieces: list[str] = []
    started = time.perf_counter()
    reply = loaded.chat(MESSAGES, SamplingSettings.greedy(max_tokens=40), on_token=pieces.append)
    wall = time.perf_counter() - started
    assert len(pieces) > 1 and "".join(pieces) == reply.text
    assert reply.stop_reason is StopReason.MAX_TOKENS and reply.generated_tokens == 40
    assert 0 < reply.time_to_first_token_seconds < reply.total_seconds <= wall
    assert reply.prompt_tokens > 0 and reply.prompt_tokens_per_second > 0
    # 39 decode steps after the first token cannot take longer than the whole reply
    assert reply.generation_tokens_per_second >= 39 / reply.total_seconds
    assert reply.ram_bytes > 0 and reply.vram_bytes is None
    assert loaded.state is WorkerState.READY


def test_raw_completion_matches_llama_cpp_python_sampling_and_eos(
    loaded: InferenceWorker, tiny_model: Path
) -> None:
    """Same seed, same sampler chain: same tokens, and the end-of-sequence stop in one place."""
    sampling = SamplingSettings(
        temperature=3.0, top_k=0, top_p=1.0, min_p=0.0, repeat_penalty=1.0, seed=7, max_tokens=3000
    )
    pieces: list[str] = []
    reply = loaded.complete("a b c", sampling, on_token=pieces.append)
    reference = run_in_child(
        llama_cpp_completion,
        str(tiny_model),
        "a b c",
        {
            "temperature": 3.0,
            "top_k": 0,
            "top_p": 1.0,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "seed": 7,
            "max_tokens": 3000,
        },
        what="Reference completion",
    )
    choice = reference["choices"][0]
    assert choice["finish_reason"] == "stop" and reply.stop_reason is StopReason.EOS
    assert reply.generated_tokens == reference["usage"]["completion_tokens"]
    assert reply.prompt_tokens == reference["usage"]["prompt_tokens"]
    assert "".join(pieces) == reply.text


def test_chat_uses_the_models_template_like_llama_cpp_python(llama31_model: Path) -> None:
    template = (CHAT_TEMPLATE_FIXTURES / "meta-llama-Llama-3.1-8B-Instruct.jinja").read_text(
        encoding="utf-8"
    )
    with InferenceWorker() as worker:
        info = worker.load(llama31_model, LOAD)
        assert info.chat_template.from_model and info.chat_template.template == template
        assert MISSING_TEMPLATE_NOTE not in info.notes
        assert worker.format_chat(MESSAGES) == render_with_jinja(template, MESSAGES)
        reply = worker.chat(
            MESSAGES, SamplingSettings.greedy(max_tokens=24), on_token=lambda _piece: None
        )
    reference_prompt = render_with_jinja(template, MESSAGES)
    reference = run_in_child(
        llama_cpp_chat, str(llama31_model), MESSAGES, reference_prompt, 24, what="Reference chat"
    )
    assert reply.prompt_tokens == reference["prompt_tokens"]
    assert reply.text == reference["text"]


@pytest.mark.parametrize(
    "template_name",
    [
        "Qwen-Qwen2.5-7B-Instruct.jinja",
        "microsoft-Phi-3.5-mini-instruct.jinja",
        "google-gemma-2-2b-it.jinja",
    ],
)
def test_stored_templates_render_as_jinja_does(
    template_name: str, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = with_chat_template(tiny_model, template_name, tmp_path_factory)
    template = (CHAT_TEMPLATE_FIXTURES / template_name).read_text(encoding="utf-8")
    with InferenceWorker() as worker:
        info = worker.load(path, LoadSettings(ctx_tokens=512, threads=1))
        assert info.chat_template.template == template
        assert worker.format_chat(MESSAGES) == render_with_jinja(template, MESSAGES)


def test_multi_turn_chat_reuses_the_cached_prompt(loaded: InferenceWorker) -> None:
    first = loaded.chat(
        MESSAGES[:1], SamplingSettings.greedy(max_tokens=8), on_token=lambda _p: None
    )
    follow_up = [
        *MESSAGES[:1],
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "more"},
    ]
    second = loaded.chat(follow_up, SamplingSettings.greedy(max_tokens=8), on_token=lambda _p: None)
    assert second.prompt_tokens > first.prompt_tokens
    # most of the second prompt was already evaluated: its rate counts only the new tokens
    assert second.time_to_first_token_seconds < 5 * max(first.time_to_first_token_seconds, 0.002)
