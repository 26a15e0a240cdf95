"""The ``quantdesk`` console command: headless subcommands, and the app when none is given."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from converter.errors import QuantdeskError
from desktop.commands import COMMANDS


def _command_module(name: str):
    return importlib.import_module(f"desktop.commands.{COMMANDS[name][0]}")


def build_parser(*, with_arguments_of: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantdesk",
        description="Quantdesk: chat with local quantized LLMs, convert and compare them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == with_arguments_of:
            _command_module(name).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("--") and argv[0] not in ("--help", "-h")):
        argv = ["app", *argv]
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(with_arguments_of=command).parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    try:
        return int(_command_module(args.command).run(args) or 0)
    except QuantdeskError as exc:
        print(f"quantdesk: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("quantdesk: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
