"""The ``quantdesk`` console command: headless subcommands, and the app when none is given."""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import sys
from collections.abc import Sequence

from converter.errors import QuantdeskError
from converter.huge_pages import ask_huge_pages_for_children
from desktop.commands import COMMANDS

#: Options that act on the installation instead of running a command.
_INSTALL_OPTIONS = ("--install-desktop-entry", "--uninstall-desktop-entry", "--version")


def _command_module(name: str):
    return importlib.import_module(f"desktop.commands.{COMMANDS[name][0]}")


def build_parser(*, with_arguments_of: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantdesk",
        description="Quantdesk: chat with local quantized LLMs, convert and compare them.",
    )
    parser.add_argument(
        "--version",
        action="store_true",
        help="print the version and which Python and llama.cpp files run Quantdesk",
    )
    parser.add_argument(
        "--install-desktop-entry",
        action="store_true",
        help="add Quantdesk to this user's application menu (Linux)",
    )
    parser.add_argument(
        "--uninstall-desktop-entry",
        action="store_true",
        help="remove Quantdesk from this user's application menu (Linux)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == with_arguments_of:
            _command_module(name).add_arguments(p)
    return parser


def version_text() -> str:
    """The version, and the interpreter and llama.cpp files in use (a bundle shows its own)."""
    import importlib.metadata

    import llama_cpp

    try:
        version = importlib.metadata.version("quantdesk")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown (not installed)"
    kind = "frozen bundle" if getattr(sys, "frozen", False) else "Python environment"
    return "\n".join(
        (
            f"quantdesk {version}",
            f"{kind}: {sys.executable}",
            f"python {sys.version.split()[0]}",
            f"llama-cpp-python {llama_cpp.__version__}: {llama_cpp.__file__}",
        )
    )


def _run_install_option(args: argparse.Namespace) -> int:
    from desktop.services import desktop_entry

    if args.version:
        print(version_text())
    elif args.install_desktop_entry:
        files = desktop_entry.install_desktop_entry()
        print(f"Installed the Quantdesk menu entry: {files.entry}")
        for icon in files.icons:
            print(f"  icon: {icon}")
    else:
        removed = desktop_entry.uninstall_desktop_entry()
        print(f"Removed {len(removed)} file(s) of the Quantdesk menu entry.")
        for path in removed:
            print(f"  {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # A frozen bundle starts its worker processes by running its own executable again;
    # this turns such a start into the worker instead of a second app (no-op otherwise).
    multiprocessing.freeze_support()
    # Set before any thread starts (the server's, the GUI's): children inherit it.
    ask_huge_pages_for_children()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (
        argv[0].startswith("--") and argv[0] not in ("--help", "-h", *_INSTALL_OPTIONS)
    ):
        argv = ["app", *argv]
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(with_arguments_of=command).parse_args(argv)
    try:
        if args.version or args.install_desktop_entry or args.uninstall_desktop_entry:
            return _run_install_option(args)
        if args.command is None:
            build_parser().print_help()
            return 0
        return int(_command_module(args.command).run(args) or 0)
    except QuantdeskError as exc:
        print(f"quantdesk: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("quantdesk: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``quantdesk list | head``): stop quietly, as other tools do.
        # Output still buffered goes nowhere, so the exit's flush raises no second error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command a pipe stopped


if __name__ == "__main__":
    sys.exit(main())
