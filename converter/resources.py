"""Where the files of the top-level ``resources/`` folder are, however Quantdesk was installed.

The same folder ships three ways, and code must not care which:

* a source checkout (or an editable install): ``resources/`` beside the packages;
* a PyInstaller bundle: copied to ``resources/`` under the bundle's data folder
  (``sys._MEIPASS``), because module files no longer sit in a checkout there;
* an installed wheel: installed as data files under ``<prefix>/share/quantdesk/resources``
  (``pyproject.toml``'s ``data-files``), since site-packages keeps only packages.

It lives in ``converter`` (not ``desktop``) so the headless converter can use it without
depending on the app; ``converter.resources`` re-exports it.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

#: Name of the folder in the checkout, in the bundle, and under ``share/quantdesk``.
RESOURCES_FOLDER = "resources"
#: Where an installed wheel puts the folder, relative to an installation prefix.
INSTALLED_SUBPATH = Path("share") / "quantdesk" / RESOURCES_FOLDER
#: A file only Quantdesk's folder has: a stray ``site-packages/resources`` of another
#: package must not be taken for ours.
MARKER_FILE = "quantdesk.desktop"


def _candidate_roots() -> tuple[Path, ...]:
    """Folders that may hold ``resources/``, most specific installation first."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return (Path(bundle) / RESOURCES_FOLDER,)
    checkout = Path(__file__).resolve().parents[1] / RESOURCES_FOLDER
    prefixes = dict.fromkeys((sys.prefix, site.getuserbase()))  # pip install / pip install --user
    installed = tuple(Path(prefix) / INSTALLED_SUBPATH for prefix in prefixes)
    return (checkout, *installed)


def resources_root() -> Path:
    """The ``resources/`` folder of this installation.

    When none of the candidates exists (a broken installation) the first one is returned
    anyway: the caller's own "file not found" message, naming the full path, is the clearer
    error, and importing a module that names a resource must never fail.
    """
    roots = _candidate_roots()
    return next((root for root in roots if (root / MARKER_FILE).is_file()), roots[0])


def resource_path(*parts: str) -> Path:
    """Path of a shipped file, e.g. ``resource_path("eval", "the_time_machine.txt")``."""
    return resources_root().joinpath(*parts)
