"""Run one job in a child process, so a crash or abort in llama.cpp cannot take the caller down.

The child calls ``target(emit, *args)``; whatever it passes to ``emit`` reaches the parent's
``on_event`` callback (progress), and its return value becomes :func:`run_in_child`'s result.
An exception in the child is raised again in the parent (a :class:`QuantdeskError` keeps its
class and message); a child that dies without answering (segfault, ``abort()``, kill) becomes
:class:`WorkerCrashed`. Cancel terminates the child, since llama.cpp cannot be interrupted
inside one C call, and raises :class:`Cancelled`.

Every child starts through :func:`spawn_entry`, which loads the C++ runtime and llama.cpp's
shared libraries before anything else (:func:`preload_llama_libraries` says why). The target
and its arguments therefore travel pickled as bytes and are unpickled only after that.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import multiprocessing.connection
import pickle
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from converter.errors import Cancelled, WorkerCrashed, error_class_name, rebuild_error
from converter.huge_pages import ask_huge_pages_for_children
from converter.progress import CancelToken

R = TypeVar("R")
Emit = Callable[[Any], None]

_SPAWN = multiprocessing.get_context("spawn")
_TERMINATE_GRACE_SECONDS = 2.0


def preload_llama_libraries() -> None:
    """Load the C++ runtime, then llama.cpp's shared libraries, before numpy or torch.

    A CUDA build's ``libggml-cuda.so`` exports its own copies of C++ runtime internals (2,877
    symbols in a CUDA 13 build of llama-cpp-python 0.3.36). In a process that had imported
    numpy first, ``libllama.so``'s stream output bound to those copies and crashed while it
    described a model (``llama_model::print_info``; llama.cpp pull request 22434): on an H100,
    every model of three shapes segfaulted at load that way, with or without GPU layers, and
    loaded when llama.cpp came before numpy. With the system's C++ runtime loaded first into
    the global symbol scope, all three load whatever was imported before.
    """
    _load_cxx_runtime_globally()
    # Without llama-cpp-python the job itself says so; nothing to preload then.
    with contextlib.suppress(ImportError):
        import llama_cpp  # noqa: F401


def _load_cxx_runtime_globally() -> None:
    """Make the system's C++ runtime the first provider of its symbols (Linux; else nothing)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)


def spawn_entry(*args: Any) -> None:
    """First code a child runs: preload llama.cpp, then call the pickled target.

    ``args`` are the process's connections (pickled by multiprocessing, which imports
    nothing heavy) followed by one ``bytes`` payload holding ``(function, arguments)``.
    """
    preload_llama_libraries()
    *connections, payload = args
    function, arguments = pickle.loads(payload)
    function(*connections, *arguments)


def start_child(
    function: Callable[..., Any], *connections: Any, args: tuple = (), name: str | None = None
) -> Any:
    """Start ``function(*connections, *args)`` in a spawned child through :func:`spawn_entry`.

    The child's malloc asks for huge pages where Linux offers them (:mod:`converter.huge_pages`)."""
    ask_huge_pages_for_children()
    payload = pickle.dumps((function, args))
    process = _SPAWN.Process(
        target=spawn_entry, args=(*connections, payload), name=name, daemon=True
    )
    process.start()
    return process


def _child_main(
    conn: multiprocessing.connection.Connection, target: Callable[..., Any], args: tuple
) -> None:
    def emit(event: Any) -> None:
        conn.send(("event", event))

    try:
        result = target(emit, *args)
    except BaseException as exc:
        conn.send(("error", error_class_name(type(exc)), str(exc), traceback.format_exc()))
    else:
        conn.send(("result", result))
    finally:
        conn.close()


def describe_exit(exitcode: int | None) -> str:
    """``-11`` → ``"crashed (SIGSEGV)"``; ``3`` → ``"exited with code 3"``."""
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        try:
            return f"crashed ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


def run_in_child(
    target: Callable[..., R],
    *args: Any,
    what: str,
    on_event: Callable[[Any], None] | None = None,
    cancel: CancelToken | None = None,
    poll_seconds: float = 0.05,
) -> R:
    """Run ``target(emit, *args)`` in a fresh process and return its result.

    ``target`` must be a module-level function (it is pickled). ``what`` names the job in
    messages ("Quantizing to Q4_K_M").
    """
    parent_conn, child_conn = _SPAWN.Pipe(duplex=False)
    process = start_child(_child_main, child_conn, args=(target, args))
    child_conn.close()
    try:
        while True:
            if cancel is not None and cancel.cancelled:
                raise Cancelled(what)
            if parent_conn.poll(poll_seconds):
                try:
                    message = parent_conn.recv()
                except EOFError:
                    process.join(5)
                    raise WorkerCrashed(
                        f"{what} failed: the worker process {describe_exit(process.exitcode)}."
                    ) from None
                kind = message[0]
                if kind == "event":
                    if on_event is not None:
                        on_event(message[1])
                elif kind == "result":
                    return message[1]
                else:
                    _, class_name, text, _trace = message
                    raise rebuild_error(class_name, text, what)
            elif not process.is_alive():
                raise WorkerCrashed(
                    f"{what} failed: the worker process {describe_exit(process.exitcode)}."
                )
    finally:
        parent_conn.close()
        stop_process(process)


def stop_process(process: Any, grace_seconds: float = _TERMINATE_GRACE_SECONDS) -> None:
    """Terminate politely, then kill; always reap the process."""
    if process.is_alive():
        process.terminate()
        process.join(grace_seconds)
    if process.is_alive():
        process.kill()
    process.join()
