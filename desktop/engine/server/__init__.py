"""An OpenAI-compatible HTTP API for one local GGUF model: see :class:`ModelServer`."""

from desktop.engine.server.formatting import curl_example
from desktop.engine.server.model_server import (
    DEFAULT_PORT,
    ModelServer,
    ServerStartError,
    ServerState,
    ServerStateError,
    is_loopback,
)
from desktop.engine.server.model_service import ModelCatalog

__all__ = [
    "DEFAULT_PORT",
    "ModelCatalog",
    "ModelServer",
    "ServerStartError",
    "ServerState",
    "ServerStateError",
    "curl_example",
    "is_loopback",
]
