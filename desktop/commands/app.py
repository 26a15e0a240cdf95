"""``quantdesk app``: open the desktop window."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quit-after-ms",
        type=int,
        default=None,
        metavar="MS",
        help="close the window after MS milliseconds (smoke tests, start-up timing)",
    )


def run(args: argparse.Namespace) -> int:
    from desktop.app import run_app  # Qt is imported only here

    return run_app(quit_after_ms=args.quit_after_ms)
