"""``quantdesk serve``: one GGUF model behind an OpenAI-compatible API on this machine.

Prints the base URL and a curl example on stdout; logs one line per request on stderr.
Ctrl-C stops the server and the model worker and exits 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from desktop.commands.load_options import add_load_arguments, describe_load, load_settings
from desktop.engine.server import DEFAULT_PORT, ModelServer, curl_example, is_loopback

NAME = "serve"
HELP = "Serve a GGUF model through an OpenAI-compatible local API."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL.gguf", help="the model to serve")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: only this machine can connect)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}, as llama.cpp's server; 0 picks a free one)",
    )
    add_load_arguments(parser)
    parser.add_argument(
        "--cors", action="store_true", help="let web pages on any origin call the API"
    )


def run(args: argparse.Namespace) -> int:
    load = load_settings(args)
    if not is_loopback(args.host):
        _err(
            f"Warning: listening on {args.host}, so other machines can use this model "
            "without any password. Use the default 127.0.0.1 to keep it local."
        )
    server = ModelServer(
        args.model, load, host=args.host, port=args.port, cors=args.cors, on_request=_err
    )
    try:
        info = server.start()
        for line in describe_load(info):
            _err(line)
        print(f"Serving {server.model_id} at {server.url}  (Ctrl-C stops)")
        print(curl_example(server.url), flush=True)
        _wait_for_ctrl_c()
    finally:
        server.stop()
    _err("Stopped.")
    return 0


def _wait_for_ctrl_c() -> None:
    """Block the main thread (which receives the signals) until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGTERM, previous)


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
