"""Where a checkpoint to convert can come from: the wizard's extension point.

The source page asks each resolver in :data:`SOURCE_RESOLVERS`, in order, whether it accepts
what the user typed; the first that does turns it into a local checkpoint folder (a resolver
for Hugging Face repo ids would download it there, yielding progress). Another source is added
with :func:`register_source_resolver`; nothing in the wizard changes. Headless: no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from converter.errors import CheckpointError
from converter.progress import CancelToken, Job
from desktop.services.hub_source import HubRepoSource


class SourceResolver(Protocol):
    @property
    def description(self) -> str:
        """Shown on the source page ("A checkpoint folder on this computer")."""
        ...

    def accepts(self, text: str) -> bool: ...

    def resolve(self, text: str, cancel: CancelToken) -> Job[Path]: ...


@dataclass(frozen=True, slots=True)
class LocalFolder:
    """A Hugging Face checkpoint folder already on disk (config.json + safetensors)."""

    description: str = "A checkpoint folder on this computer (config.json and *.safetensors)"

    def accepts(self, text: str) -> bool:
        return bool(text.strip()) and Path(text.strip()).expanduser().is_dir()

    def resolve(self, text: str, cancel: CancelToken) -> Job[Path]:
        folder = Path(text.strip()).expanduser().resolve()
        if not (folder / "config.json").is_file():
            raise CheckpointError(
                f"{folder} has no config.json: choose the folder that holds the model's "
                "config.json and .safetensors files."
            )
        return folder
        yield  # a generator with nothing to report


SOURCE_RESOLVERS: list[SourceResolver] = [LocalFolder()]


def register_source_resolver(resolver: SourceResolver, *, first: bool = False) -> None:
    """Add a source kind; ``first`` lets it claim text before the local-folder resolver."""
    if first:
        SOURCE_RESOLVERS.insert(0, resolver)
    else:
        SOURCE_RESOLVERS.append(resolver)


def resolver_for(text: str) -> SourceResolver | None:
    return next((r for r in SOURCE_RESOLVERS if r.accepts(text)), None)


def describe_sources() -> str:
    return "\n".join(f"• {r.description}" for r in SOURCE_RESOLVERS)


register_source_resolver(HubRepoSource())  # ORG/NAME: downloaded from the Hugging Face hub
