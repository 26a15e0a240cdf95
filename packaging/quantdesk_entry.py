"""Entry script of the frozen bundle: the ``quantdesk`` command in one executable.

With no arguments it opens the app (what a double-click does); with a subcommand it runs
headless, exactly like the installed ``quantdesk`` script.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from desktop.cli import main

    sys.exit(main())
