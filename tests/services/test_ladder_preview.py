"""The count of levels a measurement will run, said before it starts, is the count it runs."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from converter.progress import CancelToken, run_job
from desktop.engine.measure.measure_options import MeasureOptions
from desktop.services.ladder_data import (
    LadderPoint,
    MeasureRequest,
    ladder_points,
    measure_ladder,
    measure_preview,
)
from desktop.services.library import read_facts
from tests.support.measure_helpers import CTX, build_levels

SMALL_RUN = MeasureOptions(  # the text is the request's (the bundled one)
    ctx_tokens=CTX, max_chunks=2, speed_repeats=1, threads=1,
    prompt_tokens=16, gen_tokens=4,
)  # fmt: skip


def test_the_preview_counts_the_levels_the_measurement_runs(tmp_path: Path) -> None:
    levels = build_levels(tmp_path)
    ladder = tuple(read_facts(p) for p in (levels.f16, levels.q8_0, levels.q2_k))
    measured = run_job(measure_ladder(MeasureRequest(ladder, None, CTX, "f16", options=SMALL_RUN),
                                      CancelToken(), lambda _point: None))  # fmt: skip
    assert measured == 3
    # A second file of a level, never measured (a downloaded copy beside the ladder).
    (tmp_path / "shipped").mkdir()
    shipped = Path(shutil.copy(levels.q2_k, tmp_path / "shipped" / "tiny-q2_k.gguf"))
    files = (*ladder, read_facts(shipped))
    request = MeasureRequest(files, None, CTX, "f16", options=SMALL_RUN)

    shown = [p.speed_text != "not measured" for p in ladder_points(files, None, CTX, "f16")]
    assert shown == [True, True, True, False]
    preview = measure_preview(request)
    # The new file, and the reference again: the new level is compared with its distributions.
    assert preview.levels_to_measure == 2
    assert preview.text.startswith(
        "Measuring 1 new level of 4, and again F16 (the reference the new level is compared "
        "with), takes about"
    )
    points: list[LadderPoint] = []
    measured = run_job(measure_ladder(request, CancelToken(), points.append))
    assert measured == preview.levels_to_measure and len(points) == 4
    assert "Every level is measured" in measure_preview(request).text

    # Saved with 1 thread, asked for with 2: the chart still shows the figures, and the
    # preview names every level as measured again instead of counting them as new.
    two_threads = replace(request, options=replace(SMALL_RUN, threads=2))
    preview = measure_preview(two_threads)
    assert preview.levels_to_measure == 4
    assert preview.text.startswith(
        "Measuring again F16, Q8_0, Q2_K, Q2_K (measured before with other settings) takes"
    )
    measured = run_job(measure_ladder(two_threads, CancelToken(), points.append))
    assert measured == preview.levels_to_measure
