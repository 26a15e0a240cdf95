"""Shipped files (icons, styles, the evaluation text) for the app's code.

The locator lives in :mod:`converter.resources` so the headless converter can use it too;
this module is the name desktop code imports.
"""

from __future__ import annotations

from converter.resources import resource_path, resources_root

__all__ = ["resource_path", "resources_root"]
