"""``quantdesk serve``: the OpenAI-compatible API over real HTTP on 127.0.0.1, answered by
real llama.cpp running a tiny random-weight model in the inference worker."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.engine.server import ModelServer, ServerStateError, is_loopback
from desktop.engine.server.model_server import ServerStartError
from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings
from desktop.engine.worker.stop_strings import StopCutter
from tests.conftest import REPO_ROOT
from tests.support import worker_helpers
from tests.support.server_helpers import running_server

endless_model = worker_helpers.endless_model

#: A context long enough that a reply running to its end takes many seconds, so a test can
#: tell a cancelled generation from one that was left to run.
LOAD = LoadSettings(ctx_tokens=32768, threads=1)
GREEDY: dict[str, Any] = {"temperature": 0, "seed": 7}
CHAT = {"messages": [{"role": "user", "content": "abc def"}], "repeat_penalty": 1.6}
LONG_REPLY = {"prompt": "abc", "max_tokens": 30000, **GREEDY}


@pytest.fixture(scope="module")
def log_lines() -> list[str]:
    return []


@pytest.fixture(scope="module")
def server(endless_model: Path, log_lines: list[str]) -> Iterator[ModelServer]:
    with running_server(endless_model, LOAD, on_request=log_lines.append) as running:
        yield running


def request(
    server: ModelServer, method: str, path: str, body: Any = None, *, raw: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        payload = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


def post_json(server: ModelServer, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    status, _headers, data = request(server, "POST", path, body)
    return status, json.loads(data)


def post_stream(server: ModelServer, path: str, body: dict[str, Any]) -> list[Any]:
    """The ``data:`` payloads of an event stream, parsed (``[DONE]`` kept as the string)."""
    status, headers, data = request(server, "POST", path, {**body, "stream": True})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in data.decode().split("\n\n") if line]
    return [event if event == "[DONE]" else json.loads(event) for event in events]


def streamed_chat_text(events: list[Any]) -> str:
    return "".join(event["choices"][0]["delta"].get("content", "") for event in events[:-1])


def streamed_completion_text(events: list[Any]) -> str:
    return "".join(event["choices"][0]["text"] for event in events[:-1])


def whole_text(path: str, reply: dict[str, Any]) -> str:
    choice = reply["choices"][0]
    return choice["message"]["content"] if path.endswith("chat/completions") else choice["text"]


# --- the endpoints --------------------------------------------------------------------------------


def test_models_lists_the_loaded_file(server: ModelServer) -> None:
    status, headers, data = request(server, "GET", "/v1/models")
    assert status == 200
    assert json.loads(data)["data"] == [
        {
            "id": "tiny-chat",
            "object": "model",
            "created": pytest.approx(time.time(), abs=600),
            "owned_by": "quantdesk",
        }
    ]
    assert "access-control-allow-origin" not in headers  # only with --cors


def test_chat_streamed_equals_whole_and_the_worker_s_own_reply(
    server: ModelServer, endless_model: Path
) -> None:
    body = {**CHAT, **GREEDY, "max_tokens": 16, "model": "tiny-chat"}
    status, whole = post_json(server, "/v1/chat/completions", body)
    assert status == 200 and whole["object"] == "chat.completion"
    text = whole["choices"][0]["message"]["content"]
    assert whole["choices"][0]["finish_reason"] == "length"

    events = post_stream(
        server, "/v1/chat/completions", {**body, "stream_options": {"include_usage": True}}
    )
    assert events[-1] == "[DONE]"
    first, *pieces, last_choice, usage_event, _done = events
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert all(event["object"] == "chat.completion.chunk" for event in events[:-1])
    assert streamed_chat_text(events[:-1]) == text
    assert last_choice["choices"][0]["finish_reason"] == "length"
    assert all(event["choices"][0]["finish_reason"] is None for event in [first, *pieces])
    assert usage_event["usage"] == whole["usage"]

    sampling = SamplingSettings(
        temperature=0, seed=7, repeat_penalty=1.6, max_tokens=16, top_k=40, top_p=0.95, min_p=0.05
    )
    with InferenceWorker() as worker:
        worker.load(endless_model, LoadSettings(ctx_tokens=1024, threads=1))
        reference = worker.chat(CHAT["messages"], sampling, on_token=lambda _piece: None)
    assert text == reference.text
    cached = whole["usage"].pop("prompt_tokens_details")["cached_tokens"]
    assert whole["usage"] == {
        "prompt_tokens": reference.prompt_tokens,
        "completion_tokens": reference.generated_tokens,
        "total_tokens": reference.prompt_tokens + reference.generated_tokens,
    }
    assert 0 <= cached < reference.prompt_tokens  # counted in test_server_formats


def test_completions_stream_and_whole_agree(server: ModelServer) -> None:
    body = {"prompt": "zebra kite mango", "max_completion_tokens": 12, **GREEDY}
    status, whole = post_json(server, "/v1/completions", body)
    assert status == 200 and whole["object"] == "text_completion"
    assert whole["usage"]["completion_tokens"] == 12
    events = post_stream(server, "/v1/completions", body)
    assert all(event["object"] == "text_completion" for event in events[:-1])
    assert streamed_completion_text(events) == whole["choices"][0]["text"]
    assert events[-2]["choices"][0]["finish_reason"] == "length"


def test_llama_server_s_n_predict_limits_the_reply(server: ModelServer) -> None:
    """Clients written for llama.cpp's server send ``n_predict``, not ``max_tokens``."""
    body = {"prompt": "zebra kite mango", "n_predict": 5, **GREEDY}
    status, whole = post_json(server, "/v1/completions", body)
    assert status == 200 and whole["usage"]["completion_tokens"] == 5
    assert whole["choices"][0]["finish_reason"] == "length"
    limited = {**body, "n_predict": 3, "max_tokens": 4}  # OpenAI's own field wins
    assert post_json(server, "/v1/completions", limited)[1]["usage"]["completion_tokens"] == 4


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", CHAT),
        ("/v1/completions", {"prompt": "zebra kite mango"}),
    ],
)
def test_stop_cuts_the_text_in_both_modes(
    server: ModelServer, path: str, body: dict[str, Any]
) -> None:
    body = {**body, **GREEDY, "max_tokens": 24}
    _status, reply = post_json(server, path, body)
    greedy = whole_text(path, reply)
    # the first two characters, past the start, that the text has not shown before
    at = next(i for i in range(1, len(greedy) - 1) if greedy.find(greedy[i : i + 2]) == i)
    stop = greedy[at : at + 2]
    status, cut = post_json(server, path, {**body, "stop": ["never there", stop]})
    assert status == 200
    assert whole_text(path, cut) == greedy[:at]
    assert cut["choices"][0]["finish_reason"] == "stop"
    events = post_stream(server, path, {**body, "stop": stop})
    read = streamed_chat_text if path.endswith("chat/completions") else streamed_completion_text
    assert read(events) == greedy[:at]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


def test_stop_strings_split_over_pieces_are_held_back() -> None:
    cutter = StopCutter(("</end>",))
    sent = [cutter.push(piece) for piece in ("ab", "<", "/e", "x<", "/", "en", "d>tail")]
    assert sent == ["ab", "", "", "</ex", "", "", ""]
    assert "".join(sent) + cutter.finish() == "ab</ex"
    assert cutter.stopped
    open_ended = StopCutter(("</end>",))
    assert open_ended.push("done </e") == "done "
    assert open_ended.finish() == "</e"  # the reply ended: the held text was no stop string


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        ({**CHAT, "temperature": -0.5}, "Temperature must be 0 or more"),
        ({**CHAT, "temperature": "hot"}, "'temperature' must be a number"),
        ({**CHAT, "max_tokens": 0}, "max_tokens must be at least 1"),
        ({**CHAT, "stream": "yes"}, "'stream' must be true or false"),
        ({**CHAT, "stop": [1]}, "'stop' must be a string or a list"),
        ({"messages": "hello"}, "'messages' must be a non-empty list"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role is None"),
        ({"messages": [{"role": "function", "content": "x"}]}, "older form of tool messages"),
        ({"messages": [{"role": "user"}]}, "messages[0].content must be"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "only text is supported",
        ),
        ({**CHAT, "n": 0}, "'n' must be between 1 and 16"),
        ({**CHAT, "tools": [{"type": "function"}]}, "tools[0].function must be an object"),
        ({**CHAT, "frequency_penalty": 0.5}, "use repeat_penalty"),
        ({**CHAT, "n_probs": 3}, "use logprobs"),
        ({**CHAT, "continue_final_message": True}, "continue_final_message) is not supported"),
        ({**CHAT, "add_generation_prompt": False}, "add_generation_prompt: false is not"),
        ({**CHAT, "logit_bias": {"12": 150}}, "numbers from -100 to 100"),
        ({**CHAT, "logit_bias": {"twelve": 1}}, "'logit_bias' must map token ids"),
        ({**CHAT, "logit_bias": {"10000000": -100}}, "is not in this model's vocabulary"),
        (b'{"messages": [], "temperature": NaN}', "NaN is not a JSON number"),
        (b'{"messages": [{"role": "user", "content": "\\ud800"}]}', "lone surrogate"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than"),
    ],
)
def test_bad_requests_get_a_400_that_says_why(server: ModelServer, body: Any, words: str) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _headers, data = request(server, "POST", "/v1/chat/completions", raw=raw)
    assert status == 400
    error = json.loads(data)["error"]
    assert words in error["message"]
    assert error["type"] == "invalid_request_error" and error["code"] and "param" in error


def test_logit_bias_is_honoured_in_both_shapes(server: ModelServer) -> None:
    """OpenAI's ``{"id": bias}`` and llama.cpp's server's ``[[id, bias]]``: +100 makes the
    greedy reply that one token, again and again."""
    expected = post_json(server, "/detokenize", {"tokens": [100] * 4})[1]["content"]
    for bias in ({"100": 100}, [[100, 100]]):
        body = {"prompt": "abc", "max_tokens": 4, "temperature": 0, "logit_bias": bias}
        status, reply = post_json(server, "/v1/completions", body)
        assert status == 200 and reply["choices"][0]["text"] == expected


def test_neutral_openai_fields_are_accepted(server: ModelServer) -> None:
    body = {
        **CHAT,
        "max_tokens": 2,
        "n": 1,
        "frequency_penalty": 0,
        "logprobs": False,
        "user": "someone",
        "tools": [],
        "parallel_tool_calls": True,
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
    }
    status, reply = post_json(server, "/v1/chat/completions", body)
    assert status == 200 and reply["usage"]["completion_tokens"] == 2


def test_any_model_name_means_the_loaded_one_and_unknown_paths_get_404(
    server: ModelServer,
) -> None:
    body = {**CHAT, "max_tokens": 2}
    for name in ("gpt-4o-mini", "models/some-file.gguf"):
        status, reply = post_json(server, "/v1/chat/completions", {**body, "model": name})
        assert status == 200 and reply["model"] == "tiny-chat"
    status, reply = post_json(server, "/v1/chat/completions", {**body, "model": 3})
    assert status == 400 and reply["error"]["param"] == "model"
    status, _headers, data = request(server, "GET", "/v1/models/gpt-4o")
    assert status == 404 and json.loads(data)["error"]["code"] == "model_not_found"
    status, _headers, data = request(server, "GET", "/v1/audio/speech")
    assert status == 404 and "error" in json.loads(data)
    status, _headers, data = request(server, "GET", "/v1/chat/completions")
    assert status == 405 and "error" in json.loads(data)


def test_llama_server_routes_health_and_paths_without_v1(server: ModelServer) -> None:
    status, _headers, data = request(server, "GET", "/health")
    assert status == 200 and json.loads(data) == {"status": "ok"}
    status, _headers, data = request(server, "GET", "/v1/models/tiny-chat")
    assert status == 200 and json.loads(data)["id"] == "tiny-chat"
    status, _headers, data = request(server, "GET", "/models")
    assert status == 200 and json.loads(data)["data"][0]["id"] == "tiny-chat"
    status, reply = post_json(server, "/completions", {"prompt": "abc", "max_tokens": 2})
    assert status == 200 and reply["usage"]["completion_tokens"] == 2


def test_the_state_machine_refuses_misuse(server: ModelServer, endless_model: Path) -> None:
    with pytest.raises(ServerStateError, match="running"):
        server.start()
    with pytest.raises(ServerStateError, match="never started"):
        ModelServer(endless_model).stop()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("127.0.0.1", "the port is in use by another program; choose another port."),
        ("192.0.2.1", "this machine has no address 192.0.2.1"),  # TEST-NET-1: nobody's
        ("no-such-host.invalid", "no-such-host.invalid is no host name or address"),
    ],
)
def test_a_server_that_cannot_listen_says_why_in_words(
    endless_model: Path, host: str, words: str
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = ModelServer(endless_model, LOAD, host=host, port=port)
        with pytest.raises(ServerStartError) as failure:
            server.start()
    text = str(failure.value)
    assert text.startswith(f"Cannot listen on {host}:{port}: ") and words in text
    assert "while attempting" not in text  # Python's "(… to bind on address ('…', 8080))"


# --- concurrency, disconnects, crashes ------------------------------------------------------------


def test_concurrent_requests_are_queued_and_all_answered(server: ModelServer) -> None:
    body = {**CHAT, **GREEDY, "max_tokens": 300}
    results: list[tuple[int, dict[str, Any]]] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(post_json(server, "/v1/chat/completions", body))
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [status for status, _reply in results] == [200, 200, 200]
    texts = {reply["choices"][0]["message"]["content"] for _status, reply in results}
    assert len(texts) == 1  # the same greedy reply each time: no interference between them


def test_a_client_leaving_mid_stream_cancels_its_generation(
    server: ModelServer, log_lines: list[str]
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("POST", "/v1/completions", body=json.dumps({**LONG_REPLY, "stream": True}))
    response = connection.getresponse()
    assert response.status == 200
    assert response.readline().startswith(b"data: ")
    left = time.monotonic()
    response.close()  # both: the response holds the socket open too
    connection.close()

    status, reply = post_json(server, "/v1/completions", {"prompt": "abc", "max_tokens": 4})
    assert status == 200 and reply["usage"]["completion_tokens"] == 4
    assert time.monotonic() - left < 10  # 30000 tokens at a 32k context take over a minute
    assert any(line.startswith("POST /v1/completions 499 ") for line in log_lines)


def test_a_worker_crash_answers_500_and_the_next_request_works(endless_model: Path) -> None:
    server = ModelServer(endless_model, LOAD, port=0)  # its own: the reloaded worker ends with it
    server.start()
    try:
        results: list[tuple[int, dict[str, Any]]] = []
        thread = threading.Thread(
            target=lambda: results.append(post_json(server, "/v1/completions", LONG_REPLY))
        )
        thread.start()
        time.sleep(1.0)
        crashed_pid = server.worker_pid
        assert crashed_pid is not None
        os.kill(crashed_pid, signal.SIGKILL)
        thread.join(60)
        ((status, reply),) = results
        assert status == 500
        assert reply["error"]["code"] == "worker_crashed"
        assert "cut off" in reply["error"]["message"]

        status, reply = post_json(server, "/v1/completions", {"prompt": "abc", "max_tokens": 3})
        assert status == 200 and reply["usage"]["completion_tokens"] == 3
        assert server.worker_pid not in (None, crashed_pid)

        # mid-stream the status line has gone out: the error is the stream's last event
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.request(
            "POST", "/v1/completions", body=json.dumps({**LONG_REPLY, "stream": True})
        )
        response = connection.getresponse()
        assert response.status == 200 and response.readline().startswith(b"data: ")
        pid = server.worker_pid
        assert pid is not None  # never os.kill(0, …): that is this whole process group
        os.kill(pid, signal.SIGKILL)
        events = [line.strip() for line in response.read().decode().split("\n\n") if line.strip()]
        connection.close()
        assert events[-1] == "data: [DONE]"
        assert json.loads(events[-2].removeprefix("data: "))["error"]["code"] == "worker_crashed"
        status, _reply = post_json(server, "/v1/completions", {"prompt": "abc", "max_tokens": 3})
        assert status == 200
    finally:
        server.stop()


# --- the command ----------------------------------------------------------------------------------


def test_serve_command_answers_logs_and_stops_on_ctrl_c(endless_model: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "desktop.cli",
        "serve",
        str(endless_model),
        "--port",
        "0",
        "--ctx",
        "512",
        "--threads",
        "1",
        "--cors",
        "--alias",
        "house-model",  # the name clients see, as llama-server's --alias
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT
    ) as process:
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            assert banner.startswith("Serving house-model at ")
            curl = process.stdout.readline()
            url = banner.split(" at ")[1].split()[0]
            assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
            assert curl.startswith(f"curl {url}/chat/completions")
            host, port = url.removeprefix("http://").removesuffix("/v1").split(":")
            connection = http.client.HTTPConnection(host, int(port), timeout=60)
            body = json.dumps({**CHAT, "max_tokens": 3})
            connection.request("POST", "/v1/chat/completions", body=body)
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Access-Control-Allow-Origin") == "*"
            reply = json.loads(response.read())
            assert reply["usage"]["completion_tokens"] == 3 and reply["model"] == "house-model"
            connection.request("GET", "/v1/models")
            listed = json.loads(connection.getresponse().read())["data"]
            assert [model["id"] for model in listed] == ["house-model"]
            connection.close()
            process.send_signal(signal.SIGINT)
            _stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0
    assert "POST /v1/chat/completions 200 3 tok" in stderr
    assert "Stopped." in stderr
