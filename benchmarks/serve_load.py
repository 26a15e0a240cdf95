"""Concurrent streaming clients against ``quantdesk serve`` and llama.cpp's ``llama-server``.

Starts each server on the same GGUF with the same threads and slots, then for every client
count (default 1, 4, 16, 64) opens that many connections at once, each streaming one raw
completion of up to ``--tokens`` tokens (no chat template, so both servers see the same
prompt), and prints per server and client count: total generated tokens
per second (all replies' tokens over the wall time of the round), time to first token p50 and
p95, and errors (refused or reset connections, non-200 answers, streams without ``[DONE]``).

Prompts differ per client (a number in each), so no reply is served from another's cache.

Run: ``python -m benchmarks.serve_load MODEL.gguf --llama-server PATH [--clients 1,4,16,64]
[--parallel 4] [--tokens 128] [--threads N] [--ctx 1024] [--gpu-layers N]``
(``--only quantdesk`` or ``--only llama-server`` runs one side).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from desktop.engine.hardware import cpu_model_name

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class ClientResult:
    ok: bool
    tokens: int
    ttft_seconds: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class Round:
    server: str
    clients: int
    tokens_per_second: float
    ttft_p50: float
    ttft_p95: float
    errors: int
    wall_seconds: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(port: int, process: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError("the server did not become healthy in time")


@contextmanager
def running(command: list[str], port: int, log_path: Path) -> Iterator[None]:
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, cwd=REPO_ROOT)
        try:
            wait_until_healthy(port, process)
            yield
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def one_client(port: int, index: int, tokens: int, start: threading.Event) -> ClientResult:
    body = {
        "model": "any",
        "prompt": f"Story {index}. Once upon a time, in a harbor town by the sea,",
        "max_tokens": tokens,
        "temperature": 0.8,
        "seed": index,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start.wait()
    sent = time.perf_counter()
    first: float | None = None
    counted = usage = 0
    done = False
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        connection.request(
            "POST",
            "/v1/completions",
            body=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        if response.status != 200:
            return ClientResult(False, 0, 0.0, f"HTTP {response.status}")
        for raw in response:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line.startswith("data: "):
                continue
            data = line.removeprefix("data: ")
            if data == "[DONE]":
                done = True
                break
            event = json.loads(data)
            if "error" in event:
                return ClientResult(False, 0, 0.0, event["error"].get("message", "error"))
            if event.get("usage"):
                usage = int(event["usage"]["completion_tokens"])
            elif event.get("timings", {}).get("predicted_n"):  # llama-server's own figures
                usage = int(event["timings"]["predicted_n"])
            for choice in event.get("choices", []):
                if choice.get("text"):
                    counted += 1
                    if first is None:
                        first = time.perf_counter()
        connection.close()
    except OSError as exc:
        return ClientResult(False, 0, 0.0, type(exc).__name__)
    if not done:
        return ClientResult(False, 0, 0.0, "stream ended without [DONE]")
    ttft = (first if first is not None else time.perf_counter()) - sent
    return ClientResult(True, usage or counted, ttft)


def run_round(server: str, port: int, clients: int, tokens: int, first_index: int = 0) -> Round:
    start = threading.Event()
    results: list[ClientResult] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        result = one_client(port, first_index + index, tokens, start)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    began = time.perf_counter()
    start.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    good = [r for r in results if r.ok]
    ttfts = sorted(r.ttft_seconds for r in good) or [0.0]
    return Round(
        server=server,
        clients=clients,
        tokens_per_second=sum(r.tokens for r in good) / wall,
        ttft_p50=statistics.median(ttfts),
        ttft_p95=ttfts[min(len(ttfts) - 1, round(0.95 * (len(ttfts) - 1)))],
        errors=len(results) - len(good),
        wall_seconds=wall,
    )


def quantdesk_command(args: argparse.Namespace, port: int) -> list[str]:
    command = [sys.executable, "-m", "desktop.cli", "serve", str(args.model), "--port", str(port)]
    command += ["--ctx", str(args.ctx), "--parallel", str(args.parallel)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.gpu_layers is not None:
        command += ["--gpu-layers", str(args.gpu_layers)]
    return command


def llama_server_command(args: argparse.Namespace, port: int) -> list[str]:
    """Same file, threads, slots and context per slot (llama-server's -c is the total)."""
    command = [args.llama_server, "-m", str(args.model), "--port", str(port), "--host", "127.0.0.1"]
    command += ["-c", str(args.ctx * args.parallel), "--parallel", str(args.parallel)]
    command += ["-b", "512", "--no-webui", "--no-kv-unified"]
    if args.threads:
        command += ["-t", str(args.threads), "-tb", str(args.threads)]
    if args.gpu_layers is not None:  # llama-server's way of saying "all" is a large number
        command += ["-ngl", str(999 if args.gpu_layers < 0 else args.gpu_layers)]
    return command


def markdown(rounds: list[Round], args: argparse.Namespace) -> str:
    cpu = cpu_model_name()
    lines = [
        f"Machine: {cpu}, {os.cpu_count()} logical cores, {platform.system()}; "
        f"{datetime.date.today().isoformat()}. Model {Path(args.model).name}, "
        f"{args.tokens} tokens per reply, --parallel {args.parallel}, ctx {args.ctx} per slot, "
        f"threads {args.threads or 'auto'}.",
        "",
        "| server | clients | total tok/s | TTFT p50 | TTFT p95 | errors | wall |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        lines.append(
            f"| {r.server} | {r.clients} | {r.tokens_per_second:.1f} | "
            f"{r.ttft_p50 * 1000:.0f} ms | {r.ttft_p95 * 1000:.0f} ms | {r.errors} | "
            f"{r.wall_seconds:.1f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--llama-server", help="path of llama.cpp's llama-server binary")
    parser.add_argument("--clients", default="1,4,16,64")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--ctx", type=int, default=1024, help="context per slot")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--gpu-layers", type=int)
    parser.add_argument("--only", choices=("quantdesk", "llama-server"))
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where the servers' logs go (default: the system's temporary folder)",
    )
    parser.add_argument("--json", type=Path, help="also write the rounds here as JSON")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    sides = []
    if args.only != "llama-server":
        sides.append(("quantdesk serve", quantdesk_command))
    if args.only != "quantdesk":
        if not args.llama_server:
            parser.error("--llama-server is needed (or --only quantdesk)")
        sides.append(("llama-server", llama_server_command))
    rounds: list[Round] = []
    for name, build in sides:
        port = free_port()
        log = args.log_dir / f"serve_load-{name.split()[0]}.log"
        with running(build(args, port), port, log):
            run_round(name, port, 1, 8, first_index=10_000)  # warm-up, its own prompt
            for clients in counts:
                result = run_round(name, port, clients, args.tokens)
                print(
                    f"{name:16} {clients:3} clients: {result.tokens_per_second:7.1f} tok/s, "
                    f"TTFT p50 {result.ttft_p50 * 1000:6.0f} ms p95 "
                    f"{result.ttft_p95 * 1000:6.0f} ms, {result.errors} errors",
                    flush=True,
                )
                rounds.append(result)
    print()
    print(markdown(rounds, args))
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in rounds], indent=2))


if __name__ == "__main__":
    main()
