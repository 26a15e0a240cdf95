"""Just-in-time loading in the local API: a request that names another model of the catalog
has it loaded, over real HTTP, with real llama.cpp in the worker."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converter.paths import HOME_ENV, LIBRARY_ENV
from desktop.engine.server import ModelServer
from desktop.engine.worker import LoadSettings
from tests.support import worker_helpers
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.server_helpers import post_raw

endless_model = worker_helpers.endless_model
LOAD = LoadSettings(ctx_tokens=2048, threads=1)
GREEDY = {"temperature": 0, "seed": 7}


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("other") / "other.gguf", never_ends=True)


@pytest.fixture(scope="module")
def broken_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("broken") / "broken.gguf"
    path.write_bytes(b"GGUF" + bytes(60))  # the magic, then nothing a reader can use
    return path


@pytest.fixture
def server(
    endless_model: Path, other_model: Path, broken_model: Path
) -> Iterator[tuple[ModelServer, list[str]]]:
    catalog = {path.stem: path for path in (endless_model, other_model, broken_model)}
    log: list[str] = []
    server = ModelServer(
        endless_model, LOAD, port=0, on_request=log.append, catalog=lambda: catalog
    )
    server.start()
    try:
        yield server, log
    finally:
        server.stop()


def get_json(server: ModelServer, path: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def complete(server: ModelServer, model: str | None, max_tokens: int = 4) -> tuple[int, Any]:
    body: dict[str, Any] = {"prompt": "abc", "max_tokens": max_tokens, **GREEDY}
    if model is not None:
        body["model"] = model
    status, data = post_raw(server.port, "/v1/completions", body, timeout_s=120)
    return status, json.loads(data)


def loads(log: list[str]) -> list[str]:
    return [line for line in log if line.startswith("loading ")]


def test_a_request_naming_a_catalog_model_loads_it(
    server: tuple[ModelServer, list[str]], other_model: Path
) -> None:
    running, log = server
    status, listed = get_json(running, "/v1/models")
    assert status == 200
    assert [model["id"] for model in listed["data"]] == ["tiny-chat", "broken", "other"]
    assert get_json(running, "/v1/models/other")[0] == 200

    status, reply = complete(running, "other")
    assert status == 200, reply
    assert reply["model"] == "other"
    assert running.serving_model_id == "other"
    assert running.load_info is not None and running.load_info.path == str(other_model)
    assert loads(log) == ["loading other.gguf: a request named it"]

    # A name outside the catalog means the loaded model: no second load.
    status, reply = complete(running, "gpt-4o-mini")
    assert status == 200 and reply["model"] == "other"
    status, listed = get_json(running, "/v1/models")
    assert listed["data"][0]["id"] == "other"
    assert len(loads(log)) == 1


def test_the_switch_waits_for_the_replies_under_way(
    server: tuple[ModelServer, list[str]],
) -> None:
    running, _log = server
    ended: dict[str, float] = {}
    long_reply: dict[str, Any] = {}

    def ask_long() -> None:
        status, reply = complete(running, None, max_tokens=1500)
        ended["long"] = time.perf_counter()
        long_reply.update(status=status, reply=reply)

    thread = threading.Thread(target=ask_long)
    thread.start()
    time.sleep(0.3)  # the long reply is under way on tiny-chat
    asked = time.perf_counter()
    status, reply = complete(running, "other")
    ended["switched"] = time.perf_counter()
    thread.join(timeout=120)
    assert status == 200 and reply["model"] == "other"
    assert long_reply["status"] == 200
    long = long_reply["reply"]
    assert long["model"] == "tiny-chat"
    assert long["choices"][0]["finish_reason"] == "length"
    assert long["usage"]["completion_tokens"] == 1500  # not cut by the switch
    assert asked < ended["long"] <= ended["switched"]  # asked while it ran, answered after


def test_a_model_that_cannot_be_loaded_leaves_the_previous_one_serving(
    server: tuple[ModelServer, list[str]],
) -> None:
    running, log = server
    status, reply = complete(running, "broken")
    assert status == 500
    assert reply["error"]["code"] == "model_load_failed"
    assert reply["error"]["param"] == "model"
    assert "'broken' could not be loaded" in reply["error"]["message"]
    assert running.serving_model_id == "tiny-chat"
    status, reply = complete(running, None)
    assert status == 200 and reply["model"] == "tiny-chat"
    assert any("tiny-chat.gguf is back" in line for line in log)


def test_serve_command_with_jit_loads_a_model_of_the_library(
    endless_model: Path, other_model: Path, tmp_path: Path
) -> None:
    """The library is the app's folder (here set by its environment variable)."""
    command = [sys.executable, "-m", "desktop.cli", "serve", str(endless_model), "--port", "0"]
    command += ["--ctx", "512", "--threads", "1", "--jit"]
    environment = {
        **os.environ,
        LIBRARY_ENV: str(other_model.parent),
        HOME_ENV: str(tmp_path / "home"),
    }
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().split(" at ")[1].split()[0]
            port = int(url.removesuffix("/v1").rsplit(":", 1)[1])
            body = {"prompt": "abc", "max_tokens": 3, "model": "other", **GREEDY}
            status, data = post_raw(port, "/v1/completions", body, timeout_s=120)
            assert status == 200 and json.loads(data)["model"] == "other"
            process.send_signal(signal.SIGINT)
            _stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0
    assert "loading other.gguf: a request named it" in stderr
