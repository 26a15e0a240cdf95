"""Run a llama.cpp model in a child process and chat with it: see :class:`InferenceWorker`."""

from desktop.engine.worker.client import InferenceWorker, WorkerStateError
from desktop.engine.worker.reply_format import (
    FREE_TEXT,
    FormatKind,
    InvalidReplyFormat,
    ReplyFormat,
    json_schema_format,
)
from desktop.engine.worker.reply_ticket import ReplyTicket
from desktop.engine.worker.results import (
    LoadInfo,
    ModelInfo,
    ReplyStats,
    StopReason,
    TokenLogprobs,
    TokenProbability,
    WorkerState,
    WorkerStats,
)
from desktop.engine.worker.settings import InvalidSettings, LoadSettings, SamplingSettings
from desktop.engine.worker.token_text import UnknownToken

__all__ = [
    "FREE_TEXT",
    "FormatKind",
    "InferenceWorker",
    "InvalidReplyFormat",
    "InvalidSettings",
    "LoadInfo",
    "LoadSettings",
    "ModelInfo",
    "ReplyFormat",
    "ReplyStats",
    "ReplyTicket",
    "SamplingSettings",
    "StopReason",
    "TokenLogprobs",
    "TokenProbability",
    "UnknownToken",
    "WorkerState",
    "WorkerStateError",
    "WorkerStats",
    "json_schema_format",
]
