"""``quantdesk serve`` as OpenAI's and llama.cpp's clients see it: the official ``openai``
client, bursts of connections, slow clients, loading, shutdown mid-stream, API keys and the
DNS-rebinding guard, on real HTTP on 127.0.0.1 with real llama.cpp in the worker."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest

from desktop.engine.server import ModelServer
from desktop.engine.worker import LoadSettings
from tests.support import worker_helpers
from tests.support.server_helpers import running_server
from tests.support.tool_requests import WEATHER_TOOL

endless_model = worker_helpers.endless_model

LOAD = LoadSettings(ctx_tokens=4096, threads=1, parallel=4)
MESSAGES = [{"role": "user", "content": "abc def"}]


@pytest.fixture(scope="module")
def server(endless_model: Path) -> Iterator[ModelServer]:
    with running_server(endless_model, LOAD) as running:
        yield running


def raw_request(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        payload = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        connection.close()


def test_the_official_openai_client(server: ModelServer) -> None:
    client = openai.OpenAI(base_url=server.url, api_key="not-needed", max_retries=0)
    assert [m.id for m in client.models.list()] == ["tiny-chat"]
    assert client.models.retrieve("tiny-chat").owned_by == "quantdesk"

    chat = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        max_tokens=12,
        temperature=0,  # type: ignore[arg-type]
    )
    text = chat.choices[0].message.content
    assert text and chat.choices[0].finish_reason == "length"
    assert chat.usage is not None and chat.usage.completion_tokens == 12

    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=12,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12

    completion = client.completions.create(model="x", prompt="abc", max_tokens=5, temperature=0)
    assert completion.usage is not None and completion.usage.completion_tokens == 5

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="x", messages=MESSAGES, temperature="hot")  # type: ignore[arg-type]
    assert refused.value.param == "temperature"  # type: ignore[attr-defined]
    # The served model's template (ChatML, the fallback) has no place for tools: they are
    # described in the prompt, and a required call is bound to the Hermes syntax it teaches.
    weather = {"type": "function", "function": WEATHER_TOOL["function"]}
    plain = client.chat.completions.create(model="x", messages=MESSAGES, max_tokens=1)  # type: ignore[arg-type]
    called = client.chat.completions.create(
        model="x",
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=[weather],  # type: ignore[list-item]
        tool_choice="required",
        max_tokens=300,
        temperature=0,
    )
    assert called.usage and plain.usage
    assert called.usage.prompt_tokens > plain.usage.prompt_tokens + 50  # the description
    (call,) = called.choices[0].message.tool_calls or []
    assert called.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert set(json.loads(call.function.arguments)) == {"city", "unit"}  # type: ignore[union-attr]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_a_burst_of_64_clients_is_answered_without_resets(server: ModelServer) -> None:
    body = {"messages": MESSAGES, "max_tokens": 4}

    def call(_index: int) -> int:
        status, reply = raw_request(server.port, "POST", "/v1/chat/completions", body)
        assert reply["usage"]["completion_tokens"] == 4
        return status

    with ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(call, range(64)))
    assert statuses == [200] * 64


def test_a_stalled_client_does_not_hold_up_the_others(server: ModelServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as stalled:
        stalled.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        with socket.create_connection(("127.0.0.1", server.port)) as half_body:
            half_body.sendall(
                b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"pro'
            )
            started = time.monotonic()
            status, _reply = raw_request(
                server.port, "POST", "/v1/completions", {"prompt": "abc", "max_tokens": 3}
            )
            assert status == 200 and time.monotonic() - started < 5


def test_requests_while_the_model_loads_get_503(endless_model: Path) -> None:
    release = threading.Event()
    server = ModelServer(endless_model, LoadSettings(ctx_tokens=512, threads=1), port=0)
    starting = threading.Thread(target=lambda: server.start(on_progress=lambda _f: release.wait()))
    starting.start()
    try:
        deadline = time.monotonic() + 30
        while server.port == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        status, reply = raw_request(server.port, "GET", "/health")
        assert status == 503 and reply["error"]["message"] == "Loading model"
        status, reply = raw_request(server.port, "POST", "/v1/completions", {"prompt": "a"})
        assert status == 503 and reply["error"]["code"] == "loading"
        release.set()
        starting.join(60)
        assert raw_request(server.port, "GET", "/health") == (200, {"status": "ok"})
    finally:
        release.set()
        starting.join(60)
        server.stop()


def test_stopping_mid_stream_ends_the_stream_with_an_error_at_once(endless_model: Path) -> None:
    server = ModelServer(endless_model, LoadSettings(ctx_tokens=32768, threads=1), port=0)
    server.start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = {"prompt": "abc", "max_tokens": 30000, "temperature": 0, "stream": True}
    connection.request("POST", "/v1/completions", body=json.dumps(body))
    response = connection.getresponse()
    assert response.status == 200 and response.readline().startswith(b"data: ")
    stopped = time.monotonic()
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    events = [e.strip() for e in response.read().decode().split("\n\n") if e.strip()]
    assert time.monotonic() - stopped < 5
    stopping.join(30)
    connection.close()
    assert events[-1] == "data: [DONE]"
    error = json.loads(events[-2].removeprefix("data: "))["error"]
    assert "shutting down" in error["message"] and error["param"] is None


def test_api_key_host_and_origin_checks(endless_model: Path) -> None:
    server = ModelServer(
        endless_model, LoadSettings(ctx_tokens=512, threads=1), port=0, api_key="s3cret"
    )
    server.start()
    try:
        port = server.port
        status, reply = raw_request(port, "GET", "/v1/models")
        assert status == 401 and reply["error"]["code"] == "invalid_api_key"
        assert raw_request(port, "GET", "/health")[0] == 200  # health needs no key
        keyed = {"Authorization": "Bearer s3cret"}
        assert raw_request(port, "GET", "/v1/models", headers=keyed)[0] == 200
        anthropic_style = {"x-api-key": "s3cret"}
        assert raw_request(port, "GET", "/v1/models", headers=anthropic_style)[0] == 200
        client = openai.OpenAI(base_url=server.url, api_key="s3cret", max_retries=0)
        assert client.completions.create(model="m", prompt="a", max_tokens=2).usage

        rebound = {**keyed, "Host": "attacker.example:8080"}
        status, reply = raw_request(port, "GET", "/v1/models", headers=rebound)
        assert status == 403 and reply["error"]["code"] == "forbidden_host"
        page = {**keyed, "Origin": "http://attacker.example"}
        status, reply = raw_request(port, "GET", "/v1/models", headers=page)
        assert status == 403 and reply["error"]["code"] == "forbidden_origin"
        local_page = {**keyed, "Origin": "http://localhost:3000"}
        assert raw_request(port, "GET", "/v1/models", headers=local_page)[0] == 200
    finally:
        server.stop()


def test_a_web_page_served_from_this_machine_may_read_the_answers(server: ModelServer) -> None:
    """A local web UI on another port is a cross-origin page: without its origin echoed in
    Access-Control-Allow-Origin (on the preflight too) the browser hides every answer."""
    page = "http://localhost:3000"
    for method, path, headers in (
        ("OPTIONS", "/v1/chat/completions", {"Access-Control-Request-Method": "POST"}),
        ("GET", "/v1/models", {}),
    ):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.request(method, path, headers={"Origin": page, **headers})
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == 200
        assert response.getheader("Access-Control-Allow-Origin") == page
        assert response.getheader("Vary") == "Origin"
        assert "Access-Control-Allow-Origin" in dict(response.getheaders())  # as spelled
        if method == "OPTIONS":
            assert "POST" in response.getheader("Access-Control-Allow-Methods", "")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("GET", "/v1/models")  # no page asking: no CORS header
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.getheader("Access-Control-Allow-Origin") is None


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_ipv6_loopback(endless_model: Path) -> None:
    server = ModelServer(endless_model, LoadSettings(ctx_tokens=512, threads=1), host="::1", port=0)
    server.start()
    try:
        assert server.url == f"http://[::1]:{server.port}/v1"
        connection = http.client.HTTPConnection("::1", server.port, timeout=30)
        connection.request("GET", "/v1/models")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        server.stop()


def test_a_client_that_never_finishes_its_headers_is_cut_off(
    server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.engine.server import model_server

    monkeypatch.setattr(model_server, "HEADER_TIMEOUT_SECONDS", 0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
        slow.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        assert slow.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 10
