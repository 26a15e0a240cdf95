"""Helpers shared by the local-API tests: a running server, and a plain HTTP POST to it."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from desktop.engine.server import ModelServer
from desktop.engine.worker import LoadSettings


@contextmanager
def running_server(
    model: Path, load: LoadSettings, *, on_request: Callable[[str], None] | None = None
) -> Iterator[ModelServer]:
    """``model`` served on a free port of 127.0.0.1, stopped when the block ends."""
    server = ModelServer(model, load, port=0, on_request=on_request)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def post_raw(
    port: int, path: str, body: Mapping[str, object], *, timeout_s: float
) -> tuple[int, bytes]:
    """POST ``body`` as JSON to the server on ``port``: the status and the reply's bytes."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("POST", path, body=json.dumps(body))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
