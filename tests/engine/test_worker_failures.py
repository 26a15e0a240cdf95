"""InferenceWorker when things go wrong: cancel, a killed child, bad files, misuse."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from converter.errors import Cancelled, ModelLoadError, WorkerCrashed
from converter.progress import Progress
from desktop.engine.worker import (
    InferenceWorker,
    InvalidSettings,
    LoadSettings,
    ReplyStats,
    SamplingSettings,
    StopReason,
    WorkerState,
    WorkerStateError,
)
from desktop.engine.worker.protocol import PromptTooLong
from tests.support import worker_helpers
from tests.support.gguf_factory import write_tiny_gguf

tiny_model = worker_helpers.tiny_model

LOAD = LoadSettings(ctx_tokens=4096, threads=1)
#: Long enough that a reply is still streaming when the test acts on it.
LONG_REPLY = SamplingSettings.greedy(max_tokens=4000)
PROMPT = [{"role": "user", "content": "Tell me a very long story"}]


class StreamInBackground:
    """Runs ``worker.chat`` in a thread and signals once ``pieces_before_signal`` arrived."""

    def __init__(self, worker: InferenceWorker, pieces_before_signal: int = 10) -> None:
        self.pieces: list[str] = []
        self.streaming = threading.Event()
        self.result: ReplyStats | None = None
        self.error: BaseException | None = None
        self.returned_at = 0.0
        self._wanted = pieces_before_signal
        self._thread = threading.Thread(target=self._run, args=(worker,), daemon=True)
        self._thread.start()

    def _on_token(self, piece: str) -> None:
        self.pieces.append(piece)
        if len(self.pieces) == self._wanted:
            self.streaming.set()

    def _run(self, worker: InferenceWorker) -> None:
        try:
            self.result = worker.chat(PROMPT, LONG_REPLY, on_token=self._on_token)
        except BaseException as exc:  # handed to the test thread
            self.error = exc
        finally:
            self.returned_at = time.perf_counter()
            self.streaming.set()

    def join(self) -> None:
        self._thread.join(30)
        assert not self._thread.is_alive()


def test_cancel_ends_the_reply_within_200_ms_and_keeps_the_text(tiny_model: Path) -> None:
    with InferenceWorker() as worker:
        worker.load(tiny_model, LOAD)
        stream = StreamInBackground(worker)
        assert stream.streaming.wait(30)
        cancelled_at = time.perf_counter()
        worker.cancel()
        stream.join()
        latency = stream.returned_at - cancelled_at
        assert stream.error is None and stream.result is not None
        assert stream.result.stop_reason is StopReason.CANCELLED and stream.result.cancelled
        assert 10 <= stream.result.generated_tokens < LONG_REPLY.max_tokens
        assert "".join(stream.pieces) == stream.result.text
        assert latency < 0.2, f"cancel took {latency * 1000:.0f} ms"
        assert worker.state is WorkerState.READY
        again = worker.chat(PROMPT, SamplingSettings.greedy(max_tokens=5), on_token=lambda _p: None)
        assert again.stop_reason is StopReason.MAX_TOKENS


def test_killed_child_becomes_worker_crashed_and_load_starts_a_new_one(tiny_model: Path) -> None:
    with InferenceWorker() as worker:
        worker.load(tiny_model, LOAD)
        first_pid = worker.pid
        assert first_pid is not None
        stream = StreamInBackground(worker)
        assert stream.streaming.wait(30)
        os.kill(first_pid, signal.SIGKILL)
        stream.join()
        assert isinstance(stream.error, WorkerCrashed)
        assert "SIGKILL" in str(stream.error) and "load the model again" in str(stream.error)
        assert worker.state is WorkerState.CRASHED and worker.pid is None
        with pytest.raises(WorkerStateError, match="crashed"):
            worker.chat(PROMPT, on_token=lambda _p: None)
        worker.load(tiny_model, LOAD)
        assert worker.pid not in (None, first_pid)
        reply = worker.chat(PROMPT, SamplingSettings.greedy(max_tokens=5), on_token=lambda _p: None)
        assert reply.generated_tokens == 5


def test_truncated_gguf_is_a_clear_load_error_and_the_worker_recovers(
    tmp_path: Path, tiny_model: Path
) -> None:
    truncated = write_tiny_gguf(tmp_path / "truncated.gguf", truncate_data=True)
    with InferenceWorker() as worker:
        with pytest.raises(ModelLoadError, match=r"truncated\.gguf") as caught:
            worker.load(truncated, LOAD)
        assert "corrupt or truncated" in str(caught.value)
        assert worker.state in (WorkerState.IDLE, WorkerState.CRASHED)
        worker.load(tiny_model, LOAD)
        assert worker.state is WorkerState.READY


def test_garbage_after_a_gguf_header_is_a_clear_load_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + os.urandom(4096))
    with InferenceWorker() as worker, pytest.raises(ModelLoadError, match="corrupt"):
        worker.load(corrupt, LOAD)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"<html>not a model</html>", "not a GGUF model file")],
)
def test_files_that_are_not_models_are_refused(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with InferenceWorker() as worker:
        with pytest.raises(ModelLoadError, match=message):
            worker.load(path, LOAD)
        assert worker.state is WorkerState.IDLE


def test_misuse_raises_a_clear_error(tiny_model: Path) -> None:
    worker = InferenceWorker()
    with pytest.raises(WorkerStateError, match="No model is loaded"):
        worker.chat(PROMPT, on_token=lambda _p: None)
    with pytest.raises(WorkerStateError, match="No model is loaded"):
        worker.complete("text", on_token=lambda _p: None)
    worker.load(tiny_model, LOAD)
    with pytest.raises(WorkerStateError, match="empty"):
        worker.complete("", on_token=lambda _p: None)
    stream = StreamInBackground(worker)
    assert stream.streaming.wait(30)
    with pytest.raises(WorkerStateError, match="still answering"):
        worker.load(tiny_model, LOAD)
    with pytest.raises(WorkerStateError, match="still answering"):
        worker.unload()
    worker.cancel()
    stream.join()
    worker.unload()
    assert worker.state is WorkerState.IDLE and worker.load_info is None
    assert worker.stats().pid is not None  # the child stays for the next load
    worker.close()
    assert worker.state is WorkerState.CLOSED and worker.stats().pid is None
    with pytest.raises(WorkerStateError, match="closed"):
        worker.load(tiny_model, LOAD)


def test_close_while_answering_stops_the_child_and_the_caller_gets_an_error(
    tiny_model: Path,
) -> None:
    worker = InferenceWorker()
    worker.load(tiny_model, LOAD)
    stream = StreamInBackground(worker)
    assert stream.streaming.wait(30)
    worker.close()
    stream.join()
    assert isinstance(stream.error, WorkerStateError) and "closed" in str(stream.error)


def test_cancel_during_load_abandons_it(tiny_model: Path) -> None:
    with InferenceWorker() as worker:
        with pytest.raises(Cancelled):
            worker.load(tiny_model, LOAD, on_progress=lambda _event: worker.cancel())
        assert worker.state is WorkerState.IDLE
        worker.load(tiny_model, LOAD)


def test_prompt_longer_than_the_context_is_refused_and_the_model_stays(tiny_model: Path) -> None:
    with InferenceWorker() as worker:
        info = worker.load(tiny_model, LoadSettings(ctx_tokens=256, threads=1))
        assert info.ctx_tokens == 256
        with pytest.raises(PromptTooLong, match="256-token context"):
            worker.complete("word " * 200, on_token=lambda _p: None)
        assert worker.state is WorkerState.READY
        reply = worker.chat(
            PROMPT, SamplingSettings.greedy(max_tokens=500), on_token=lambda _p: None
        )
        assert (
            reply.stop_reason is StopReason.CONTEXT_FULL
            and reply.prompt_tokens + reply.generated_tokens == 256
        )


def test_quantized_kv_cache_needs_flash_attention(tiny_model: Path) -> None:
    with pytest.raises(InvalidSettings, match="flash attention"):
        LoadSettings(kv_type="q4_0", flash_attention=False)
    with InferenceWorker() as worker:
        info = worker.load(tiny_model, LoadSettings(ctx_tokens=256, threads=1, kv_type="q8_0"))
        assert info.flash_attention and info.kv_type == "q8_0"
        reply = worker.complete(
            "a b", SamplingSettings.greedy(max_tokens=8), on_token=lambda _p: None
        )
        assert reply.generated_tokens == 8


@pytest.mark.parametrize(
    "kwargs",
    [{"temperature": -1.0}, {"top_p": 0.0}, {"max_tokens": 0}, {"min_p": 2.0}, {"seed": -3}],
)
def test_sampling_settings_out_of_range_are_refused(kwargs: dict) -> None:
    with pytest.raises(InvalidSettings):
        SamplingSettings(**kwargs)


def test_child_killed_while_loading_is_a_load_error_naming_the_signal(tiny_model: Path) -> None:
    with InferenceWorker() as worker:
        killed: list[int] = []

        def kill_child(_event: Progress) -> None:
            # Once, and only a real pid: os.kill(0, …) would kill this whole process group
            # (the test run with it) when a progress event comes after the child is gone.
            pid = worker.pid
            if pid is not None and not killed:
                killed.append(pid)
                os.kill(pid, signal.SIGKILL)

        with pytest.raises(ModelLoadError, match=r"SIGKILL.*tiny\.gguf"):
            worker.load(tiny_model, LOAD, on_progress=kill_child)
        assert worker.state is WorkerState.CRASHED
        worker.load(tiny_model, LOAD)
        assert worker.state is WorkerState.READY
