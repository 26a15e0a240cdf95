"""A model as a person types it on the command line: a file's path, or a library model's name.

``quantdesk chat gemma-3-270m-q4_k_m`` works as ``ollama run NAME`` does. A name is the file
name without ``.gguf``, as ``quantdesk list`` shows it and the local API knows it
(:func:`desktop.services.model_catalog.model_catalog`). Letter case does not matter, and the
start of a name is enough when only one model's name starts so. Anything that exists on disk,
or looks like a path, stays a path, so the loader's own error names a missing file.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

from converter.errors import QuantdeskError
from desktop.services.model_catalog import library_folders, model_catalog

#: What a command's MODEL argument may be, for its help.
MODEL_HELP = "a .gguf file, or a library model's name as quantdesk list shows it"
#: How many names an ambiguous or unknown name's error lists.
_NAMES_SHOWN = 5


class UnknownModel(QuantdeskError):
    """What was typed is neither a file nor the name of a model in the library."""


def configured_library_folders() -> list[Path]:
    """The library's folders as the settings say now: the app's own and those added."""
    from desktop.services.app_settings import load_settings as load_app_settings

    return library_folders(load_app_settings().extra_library_folders)


def library_catalog() -> dict[str, Path]:
    """The library's models now, by name (files added since the last look count too)."""
    from desktop.services.library import find_gguf_files  # loads the GGUF reader: when needed

    return model_catalog(find_gguf_files(configured_library_folders()))


def find_model(typed: str | Path, catalog: Mapping[str, Path] | None = None) -> Path:
    """The file ``typed`` means: itself if it exists or looks like a path, else the library
    model of that name (``catalog``, by default the library as it is now)."""
    path = Path(typed).expanduser()
    typed = str(typed)
    if path.exists() or _looks_like_path(typed):
        return path
    if catalog is None:
        catalog = library_catalog()
    if typed in catalog:
        return catalog[typed]
    folded = typed.casefold()
    same_letters = [name for name in catalog if name.casefold() == folded]
    if len(same_letters) == 1:
        return catalog[same_letters[0]]
    starting = same_letters or [name for name in catalog if name.casefold().startswith(folded)]
    if len(starting) == 1:
        return catalog[starting[0]]
    if starting:
        raise UnknownModel(
            f"'{typed}' could be {_names(sorted(starting, key=str.casefold), joined_by='or')}: "
            "type more of the name."
        )
    if not catalog:
        raise UnknownModel(
            f"There is no file '{typed}', and the library has no models yet: give a .gguf "
            "file's path, or get a model with quantdesk download."
        )
    by_letters = {name.casefold(): name for name in catalog}
    close = [by_letters[n] for n in difflib.get_close_matches(folded, by_letters, n=3, cutoff=0.5)]
    hint = f" Did you mean {_names(close, joined_by='or')}?" if close else ""
    raise UnknownModel(
        f"There is no file '{typed}' and no model of that name in the library.{hint} "
        "quantdesk list shows the library's models."
    )


def _looks_like_path(typed: str) -> bool:
    separators = {os.sep, "/", *([os.altsep] if os.altsep else [])}
    return any(s in typed for s in separators) or typed.lower().endswith(".gguf")


def _names(names: list[str], joined_by: str) -> str:
    """``'a', 'b' or 'c'``, in the order given; past five names, how many more."""
    shown = names[:_NAMES_SHOWN]
    more = len(names) - len(shown)
    quoted = [f"'{name}'" for name in shown]
    if more:
        return ", ".join(quoted) + f" {joined_by} {more} more"
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + f" {joined_by} " + quoted[-1]
