"""Run a llama.cpp model in a child process and chat with it: see :class:`InferenceWorker`."""

from desktop.engine.worker.client import InferenceWorker, WorkerStateError
from desktop.engine.worker.results import (
    LoadInfo,
    ModelInfo,
    ReplyStats,
    StopReason,
    WorkerState,
    WorkerStats,
)
from desktop.engine.worker.settings import InvalidSettings, LoadSettings, SamplingSettings

__all__ = [
    "InferenceWorker",
    "InvalidSettings",
    "LoadInfo",
    "LoadSettings",
    "ModelInfo",
    "ReplyStats",
    "SamplingSettings",
    "StopReason",
    "WorkerState",
    "WorkerStateError",
    "WorkerStats",
]
