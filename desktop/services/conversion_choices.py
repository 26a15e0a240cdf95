"""What the conversion wizard's pages have chosen so far, in one Qt-free object they share.

Each page writes what it decides here (the source, the check's verdict, the levels and the
calibration, the run's result) and reads what earlier pages decided from here, never from
another page's widgets; so a page can be rebuilt, reordered or tested alone.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from converter.progress import CancelToken
from converter.written import WrittenFile
from desktop.services.checkpoint_checks import Inspection
from desktop.services.conversion_pipeline import (
    CalibrationChoice,
    PipelineResult,
    StepProgress,
    convert_and_quantize,
)

if TYPE_CHECKING:
    from desktop.engine.fit_planner import LadderEntry

#: How good a fit verdict is for a recommendation: lower is better; "wont_fit" never counts.
_FIT_RANK = {"full_gpu": 0, "partial_gpu": 1, "cpu_only": 1}


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The level to tick first: the best quality that fits, and whether all of it is on a GPU."""

    level: str | None
    full_gpu: bool


def recommend_level(entries: Sequence[LadderEntry]) -> Recommendation:
    """The largest level (ladder order: best last) of those with the best fit verdict."""
    fitting = [e for e in entries if str(e.plan.verdict) in _FIT_RANK]
    if not fitting:
        return Recommendation(None, full_gpu=False)
    best = min(_FIT_RANK[str(e.plan.verdict)] for e in fitting)
    pick = [e for e in fitting if _FIT_RANK[str(e.plan.verdict)] == best]
    return Recommendation(pick[-1].level.name, full_gpu=best == 0)


@dataclass(slots=True)
class ConversionChoices:
    """The wizard's state, page by page. ``out_dir`` is where the new files go (the library)."""

    out_dir: Path
    #: A checkpoint folder or a hub repo id, as typed on the Source page.
    source: str = ""
    #: The Check page's verdict on ``source``; None until the check has finished.
    inspection: Inspection | None = None
    #: The level the Levels page recommends (ticked first), once the ladder is predicted.
    recommended_level: str | None = None
    #: The levels to make, in ladder order, as chosen when leaving the Levels page.
    levels: tuple[str, ...] = ()
    #: Where the importance matrix comes from; None for uncalibrated levels.
    calibration: CalibrationChoice | None = None
    #: What the Run page wrote; None until it has finished.
    result: PipelineResult | None = None

    def conversion_job(self, cancel: CancelToken) -> Generator[StepProgress, None, PipelineResult]:
        """Convert the checked source and quantize it to the chosen levels."""
        if self.inspection is None or not self.levels:
            raise RuntimeError("The conversion needs a checked source and at least one level.")
        return convert_and_quantize(
            self.inspection.source,
            self.out_dir,
            list(self.levels),
            cancel=cancel,
            name=self.inspection.model_name,
            calibration=self.calibration,
        )

    def written_paths(self) -> list[Path]:
        """The files the run wrote, the full-precision one first; none before it finished."""
        return self.result.paths if self.result is not None else []

    def file_to_chat_with(self) -> WrittenFile | None:
        """The recommended level's file if it was made, else the last file written."""
        if self.result is None or not self.result.written:
            return None
        written = self.result.written
        return next((w for w in written if w.level == self.recommended_level), written[-1])
