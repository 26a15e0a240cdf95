"""``quantdesk serve``: one GGUF model behind an OpenAI-compatible API on this machine.

Prints the base URL and a curl example on stdout; logs one line per request on stderr.
Ctrl-C (or SIGTERM) stops the server and the model worker and exits 0; replies still
streaming end with an error event.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading

from desktop.commands.load_options import add_load_arguments, describe_load, load_settings
from desktop.commands.model_argument import MODEL_HELP, find_model, library_catalog
from desktop.engine.server import DEFAULT_PORT, ModelServer, curl_example, is_loopback
from desktop.services.serving_slots import parallel_slots

#: Where --api-key can also come from, so the key stays out of the process list.
API_KEY_VARIABLE = "QUANTDESK_API_KEY"

NAME = "serve"
HELP = "Serve a GGUF model through an OpenAI-compatible local API."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help=f"the model to serve: {MODEL_HELP}")
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
        "--parallel",
        type=int,
        metavar="N",
        help="replies generated at once, each with its own --ctx tokens of KV cache "
        "(default: as many of 4, 2 or 1 as fit this machine)",
    )
    parser.add_argument(
        "--alias",
        metavar="NAME",
        help="the model's name in /v1/models and in replies (default: the file name without "
        ".gguf; requests may name any model)",
    )
    parser.add_argument(
        "--jit",
        action="store_true",
        help="let a request name another model of the library (its file name without .gguf) "
        "to have it loaded in place of the current one, once the replies under way end",
    )
    parser.add_argument(
        "--cors", action="store_true", help="let web pages on any origin call the API"
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        default=os.environ.get(API_KEY_VARIABLE),
        help=f"require 'Authorization: Bearer KEY' (or set {API_KEY_VARIABLE})",
    )


def run(args: argparse.Namespace) -> int:
    args.model = find_model(args.model)
    load = load_settings(args)
    parallel = args.parallel if args.parallel is not None else parallel_slots(args.model, load)
    load = dataclasses.replace(load, parallel=parallel)
    if not is_loopback(args.host) and not args.api_key:
        _err(
            f"Warning: listening on {args.host}, so other machines can use this model "
            "without any password. Use the default 127.0.0.1 to keep it local, or --api-key."
        )
    server = ModelServer(
        args.model,
        load,
        host=args.host,
        port=args.port,
        cors=args.cors,
        api_key=args.api_key,
        model_id=args.alias,
        on_request=_err,
        catalog=library_catalog if args.jit else None,
    )
    try:
        info = server.start()
        for line in describe_load(info):
            _err(line)
        _err(f"{info.parallel} parallel replies of up to {info.ctx_tokens} tokens each.")
        print(f"Serving {server.model_id} at {server.url}  (Ctrl-C stops)")
        _err(f"Ollama's and Anthropic's clients: {server.url.removesuffix('/v1')}")
        print(curl_example(server.url), flush=True)
        _wait_for_ctrl_c()
    finally:
        server.stop()
    _err("Stopped.")
    return 0


def _wait_for_ctrl_c() -> None:
    """Block the main thread (which receives the signals) until Ctrl-C (SIGINT) or SIGTERM.

    SIGINT gets Python's own handler here even when the process started with it ignored, as
    a shell does for a command it runs in the background (``quantdesk serve &`` in a script):
    ``kill -INT`` stops the server then too, as it stops ``llama-server``."""
    stop = threading.Event()
    previous_term = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
