"""Fit badges for GGUF files still on the hub: read their headers remotely, plan like a local file.

Only the headers travel (a few MiB at most); the memory-fit planner then sees exactly the
shapes it would see after the download. A split model's shards each hold part of the tensors,
so every shard's header is read and their tensors are put together. Plain Python: it runs in a
worker thread, and imports the hub client and the GGUF reader there, not with the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from converter.errors import QuantdeskError
from converter.hub.repo_kind import GgufChoice
from converter.progress import CancelToken, Job
from desktop.services.fit_text import describe_plan

if TYPE_CHECKING:
    from converter.gguf_header import GGUFHeader
    from desktop.engine.fit_planner import FitPlan
    from desktop.engine.hardware import HardwareInfo


@dataclass(frozen=True, slots=True)
class RemoteFit:
    """The badge of one downloadable choice: a plan, or why there is none."""

    name: str  # GgufChoice.name (its first file)
    plan: FitPlan | None
    problem: str = ""  # set when the header could not be read or sized

    @property
    def text(self) -> str:
        return describe_plan(self.plan) if self.plan is not None else f"unknown: {self.problem}"


def remote_header(
    repo_id: str, choice: GgufChoice, *, revision: str | None = None, token: str | None = None
) -> GGUFHeader:
    """The header llama.cpp would assemble from every shard of ``choice``."""
    from converter.gguf_header import joined_header
    from converter.hub.remote_gguf import read_remote_gguf_header

    headers = [
        read_remote_gguf_header(repo_id, name, revision=revision, token=token)
        for name in choice.files
    ]
    return joined_header(headers[0], headers[1:])


def remote_fits(
    repo_id: str,
    choices: tuple[GgufChoice, ...],
    hardware: HardwareInfo | None,
    *,
    revision: str | None,
    ctx_tokens: int,
    kv_type: str,
    cancel: CancelToken,
) -> Job[None]:
    """Yield one :class:`RemoteFit` per choice, smallest first, as each header arrives.

    A choice whose header cannot be read gets a badge saying why; the others still come.
    """
    from converter.model_summary import summarize
    from desktop.engine.fit_planner import plan_fit

    if hardware is None:
        from desktop.engine.hardware import probe_hardware

        hardware = probe_hardware()
    for choice in choices:
        cancel.raise_if_cancelled("Reading the model headers")
        try:
            summary = summarize(remote_header(repo_id, choice, revision=revision))
            plan = plan_fit(summary, hardware, ctx_tokens=ctx_tokens, kv_type=kv_type)
        except QuantdeskError as exc:
            yield RemoteFit(choice.name, None, str(exc))  # type: ignore[misc]
            continue
        yield RemoteFit(choice.name, plan)  # type: ignore[misc]
