"""The ladder chart's labels at the window sizes people use, with a crowded 11-level ladder:
no label overlaps another label, a dot or an error bar, and none is clipped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QRectF
from pytestqt.qtbot import QtBot

from desktop.services.ladder_data import LadderPoint, best_fit
from desktop.ui.compare.compare_view import CompareView
from desktop.ui.compare.ladder_chart import DOT_RADIUS

#: Level, file size in MiB (Gemma 3 270M's files), same-top share and its error; sizes crowd at
#: the small end of the axis as they do for every model with a large vocabulary.
LEVELS = (
    ("Q2_K", 227, 0.71, 0.020), ("Q3_K_S", 232, 0.78, 0.018), ("Q3_K_M", 236, 0.80, 0.018),
    ("Q4_0", 241, 0.84, 0.016), ("Q4_K_S", 245, 0.86, 0.015), ("Q4_K_M", 253, 0.87, 0.015),
    ("Q5_K_S", 258, 0.90, 0.013), ("Q5_K_M", 260, 0.91, 0.013), ("Q6_K", 282, 0.94, 0.010),
    ("Q8_0", 291, 0.97, 0.007), ("F16", 518, None, 0.0),
)  # fmt: skip


def eleven_points() -> list[LadderPoint]:
    points = []
    for index, (level, mib, same_top, error) in enumerate(LEVELS):
        reference = level == "F16"
        points.append(
            LadderPoint(
                path=Path(f"/models/gemma-3-270m-{level}.gguf"),
                level=level,
                size_bytes=mib * 2**20,
                verdict="cpu_only",
                fit_text="CPU only · RAM 400 MiB",
                gen_tokens_per_s=18.0 - index * 0.8,
                mean_kl=None if reference else 0.5 / (index + 1),
                same_top=same_top,
                perplexity=20.0 + index,
                is_reference=reference,
                kl_error=0.0 if reference else 0.01,
                same_top_error=error,
                perplexity_error=0.4,
            )
        )
    return points


@pytest.mark.parametrize("size", [(1024, 640), (1920, 1080)])
def test_eleven_labels_never_overlap_or_clip(qtbot: QtBot, size: tuple[int, int]) -> None:
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    chart = view.ladder.chart
    chart.set_points(eleven_points())
    qtbot.wait(50)  # one paint
    boxes = chart.label_boxes()
    assert len(boxes) == 11
    area = QRectF(chart.rect())
    for index, box in enumerate(boxes):
        assert area.contains(box), f"{chart.points[index].level} label clipped: {box}"
        for other in boxes[index + 1 :]:
            assert not box.intersects(other), (box, other)
        for centre in chart.centres():
            dot = QRectF(centre.x() - DOT_RADIUS, centre.y() - DOT_RADIUS, 12, 12)
            assert not box.intersects(dot)
    assert chart.best is not None and not chart.best.is_reference


def test_the_recommendation_follows_its_written_rule() -> None:
    points = eleven_points()
    # Same-quality levels (within each other's error bars) count as equal: the smaller wins.
    best = best_fit(points)
    assert best is not None
    fastest = max(p.gen_tokens_per_s or 0 for p in points)
    assert (best.gen_tokens_per_s or 0) >= 0.7 * fastest
    fast_enough = [p for p in points if (p.gen_tokens_per_s or 0) >= 0.7 * fastest]
    lowest = min((p for p in fast_enough if not p.is_reference), key=lambda p: p.mean_kl or 1)
    assert best.mean_kl is not None and lowest.mean_kl is not None
    assert best.mean_kl - best.kl_error <= lowest.mean_kl + lowest.kl_error
    assert best.size_bytes <= lowest.size_bytes
    # Full precision is never recommended while a quantized level is measured …
    one_measured = [p if p.is_reference or p.level == "Q2_K" else _unmeasured(p) for p in points]
    assert getattr(best_fit(one_measured), "level", None) == "Q2_K"
    # … and is when nothing else is (and it is fast enough).
    only_reference = [
        replace(p, gen_tokens_per_s=17.0) if p.is_reference else _unmeasured(p) for p in points
    ]
    assert getattr(best_fit(only_reference), "is_reference", False)
    # A level that does not fit is never recommended.
    assert best_fit([_not_fitting(p) for p in points]) is None


def _unmeasured(point: LadderPoint) -> LadderPoint:
    return replace(point, mean_kl=None, same_top=None, perplexity=None)


def _not_fitting(point: LadderPoint) -> LadderPoint:
    return replace(point, verdict="wont_fit")
