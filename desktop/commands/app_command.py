"""``quantdesk app``: open the desktop window."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quit-after-ms",
        type=int,
        default=None,
        metavar="MS",
        help="close the window after MS milliseconds (smoke tests, start-up timing)",
    )
    parser.add_argument(
        "--report-startup",
        action="store_true",
        help="print how long after the process started the main window was first shown",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        metavar="PNG",
        help="save a picture of the main window as soon as it is shown",
    )


def run(args: argparse.Namespace) -> int:
    from desktop.services.xcb_libraries import MISSING_LIBRARIES_EXIT, report_missing_libraries

    if not report_missing_libraries():  # before Qt: its own failure explains nothing
        return MISSING_LIBRARIES_EXIT
    from desktop.ui.application import run_app  # Qt is imported only here

    if args.report_startup or args.screenshot is not None:
        from desktop.ui.startup_probe import watch_first_frame

        # The probe creates the QApplication, which run_app then reuses; Qt keeps it alive.
        watch_first_frame(report=args.report_startup, screenshot=args.screenshot)
    return run_app(quit_after_ms=args.quit_after_ms)
