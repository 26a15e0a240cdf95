"""Searching the hub and describing one repo, in the terms the app shows a user."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from huggingface_hub.hf_api import ModelInfo
from huggingface_hub.utils import get_session, hf_raise_for_status

from converter.hub.hub_errors import hub_errors
from converter.hub.hub_session import hub_context
from converter.hub.repo_kind import (
    GgufChoice,
    RepoKind,
    checkpoint_files,
    classify,
    gguf_choices,
    is_supported,
    model_type_of,
)

#: Bytes per parameter of each safetensors dtype the hub reports in ``safetensors.parameters``.
_DTYPE_BYTES: Mapping[str, float] = MappingProxyType(
    {"F64": 8, "F32": 4, "BF16": 2, "F16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1}
)
_SEARCH_FIELDS = [
    "downloads", "likes", "gated", "config", "tags", "cardData", "safetensors", "gguf"
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One search hit."""

    repo_id: str
    downloads: int
    likes: int
    size_bytes: int | None  # weights only; None when the hub does not say
    model_type: str | None  # "llama", "qwen2" …
    supported: bool  # the converter (or llama.cpp, for GGUF repos) can use it
    is_gguf: bool
    license: str | None
    gated: bool

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file in a repo with what is needed to verify a download of it."""

    name: str
    size: int | None
    sha256: str | None  # LFS files only


@dataclass(frozen=True, slots=True)
class RepoDetails:
    """A repo opened in the app: what it is, and what can be downloaded from it."""

    repo_id: str
    revision: str  # the commit every download from this listing is pinned to
    kind: RepoKind
    files: tuple[RemoteFile, ...]
    gguf: tuple[GgufChoice, ...]  # empty unless kind is GGUF
    checkpoint: tuple[str, ...]  # files conversion needs; empty unless kind is CHECKPOINT
    model_type: str | None
    supported: bool
    license: str | None
    gated: bool

    def file(self, name: str) -> RemoteFile:
        for remote in self.files:
            if remote.name == name:
                return remote
        raise KeyError(name)

    @property
    def checkpoint_size(self) -> int:
        return sum(self.file(name).size or 0 for name in self.checkpoint)


def search_models(query: str, *, limit: int = 20, token: str | None = None) -> list[ModelSummary]:
    """Text-generation models whose name contains ``query``, most downloaded first."""
    context = hub_context(token)
    params: dict[str, Any] = {
        "pipeline_tag": "text-generation",
        "sort": "downloads",
        "limit": max(1, min(limit, 1000)),
        "expand": _SEARCH_FIELDS,
    }
    if query:
        params["search"] = query
    # HfApi.list_models retries a refused connection for about 25 s before failing; one page
    # is all a search shows, so it is fetched here through the same session, which fails fast.
    with hub_errors(query, endpoint=context.endpoint, with_token=context.token is not None):
        response = get_session().get(
            f"{context.endpoint}/api/models", params=params, headers=context.headers()
        )
        hf_raise_for_status(response)
        return [_summary(ModelInfo(**item)) for item in response.json()[:limit]]


def repo_details(
    repo_id: str, *, revision: str | None = None, token: str | None = None
) -> RepoDetails:
    """List a repo's files with sizes and checksums, and classify it."""
    context = hub_context(token)
    with hub_errors(repo_id, endpoint=context.endpoint, with_token=context.token is not None):
        info = context.api().model_info(repo_id, revision=revision, files_metadata=True)
    files = tuple(
        RemoteFile(
            s.rfilename,
            s.lfs.size if s.lfs else s.size,
            s.lfs.sha256 if s.lfs else None,
        )
        for s in info.siblings or ()
    )
    names = [f.name for f in files]
    kind = classify(names)
    model_type = _model_type(info)
    return RepoDetails(
        repo_id=info.id,
        revision=info.sha or revision or "main",
        kind=kind,
        files=files,
        gguf=gguf_choices({f.name: f.size for f in files}) if kind is RepoKind.GGUF else (),
        checkpoint=checkpoint_files(names) if kind is RepoKind.CHECKPOINT else (),
        model_type=model_type,
        supported=kind is RepoKind.GGUF or is_supported(model_type),
        license=_license(info),
        gated=bool(info.gated),
    )


def _summary(info: ModelInfo) -> ModelSummary:
    tags = info.tags or []
    is_gguf = "gguf" in tags or info.gguf is not None
    model_type = _model_type(info)
    return ModelSummary(
        repo_id=info.id,
        downloads=info.downloads or 0,
        likes=info.likes or 0,
        size_bytes=_weights_size(info),
        model_type=model_type,
        supported=is_gguf or is_supported(model_type),
        is_gguf=is_gguf,
        license=_license(info),
        gated=bool(info.gated),
    )


def _model_type(info: ModelInfo) -> str | None:
    gguf_arch = (info.gguf or {}).get("architecture") if isinstance(info.gguf, dict) else None
    return model_type_of(info.config, info.tags or ()) or gguf_arch


def _weights_size(info: ModelInfo) -> int | None:
    """Size of the safetensors weights, from the per-dtype parameter counts the hub reports."""
    params = info.safetensors.parameters if info.safetensors else None
    if not params:
        return None
    total = 0.0
    for dtype, count in params.items():
        if dtype not in _DTYPE_BYTES:
            return None
        total += _DTYPE_BYTES[dtype] * count
    return int(total)


def _license(info: ModelInfo) -> str | None:
    card = info.card_data
    license_name = card.get("license") if card is not None else None
    if license_name:
        return str(license_name)
    return next((t.split(":", 1)[1] for t in info.tags or () if t.startswith("license:")), None)
