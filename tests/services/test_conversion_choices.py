"""The conversion wizard's shared choices: the recommended level, and what the run's result
offers next (the page flow itself is tested through the wizard in tests/ui)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from converter.progress import CancelToken
from converter.written import WrittenFile
from desktop.engine.fit_planner import DEFAULT_HEADROOM, predict_ladder
from desktop.engine.hardware import HardwareInfo, probe_hardware
from desktop.services.conversion_choices import ConversionChoices, recommend_level
from desktop.services.conversion_pipeline import PipelineResult
from tests.support.gguf_factory import write_tiny_gguf

GIB = 1024**3


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("choices") / "tiny-F16.gguf")


def _cpu_only(ram_bytes: int) -> HardwareInfo:
    real = probe_hardware()
    return replace(
        real,
        ram_available_bytes=ram_bytes,
        ram_total_bytes=ram_bytes,
        gpus=(),
        offload=replace(real.offload, backends=("CPU",)),
    )


def test_with_room_for_every_level_the_largest_is_recommended(tiny: Path) -> None:
    ladder = predict_ladder(tiny, _cpu_only(64 * GIB), ctx_tokens=2048)
    recommendation = recommend_level(ladder)
    assert recommendation.level == "Q8_0" and not recommendation.full_gpu


def test_the_largest_level_that_still_fits_is_recommended(tiny: Path) -> None:
    roomy = {
        e.level.name: e.plan.ram_bytes
        for e in predict_ladder(tiny, _cpu_only(64 * GIB), ctx_tokens=2048)
    }
    # enough memory for Q4_K_M's predicted need plus the planner's headroom, not for Q5_K_S's
    between = (roomy["Q4_K_M"] + roomy["Q5_K_S"]) // 2
    ladder = predict_ladder(tiny, _cpu_only(int(between / (1 - DEFAULT_HEADROOM))), ctx_tokens=2048)
    fitting = [e.level.name for e in ladder if e.plan.verdict != "wont_fit"]
    assert "Q4_K_M" in fitting and "Q5_K_S" not in fitting
    assert recommend_level(ladder).level == "Q4_K_M"


def test_nothing_is_recommended_when_no_level_fits(tiny: Path) -> None:
    ladder = predict_ladder(tiny, _cpu_only(1024), ctx_tokens=2048)
    assert recommend_level(ladder).level is None


def _written(folder: Path, *levels: str) -> PipelineResult:
    return PipelineResult(
        tuple(WrittenFile(folder / f"m-{lv}.gguf", lv, 1, 1, "llama") for lv in levels)
    )


def test_chat_opens_the_recommended_level_or_else_the_last_file(tmp_path: Path) -> None:
    choices = ConversionChoices(out_dir=tmp_path, recommended_level="Q4_K_M")
    assert choices.file_to_chat_with() is None and choices.written_paths() == []
    choices.result = _written(tmp_path, "F16", "Q4_K_M", "Q8_0")
    pick = choices.file_to_chat_with()
    assert pick is not None and pick.level == "Q4_K_M"
    assert choices.written_paths()[0] == tmp_path / "m-F16.gguf"
    choices.result = _written(tmp_path, "F16", "Q2_K", "Q3_K_M")  # the user unticked it
    pick = choices.file_to_chat_with()
    assert pick is not None and pick.level == "Q3_K_M"


def test_the_run_refuses_to_start_without_a_checked_source(tmp_path: Path) -> None:
    choices = ConversionChoices(out_dir=tmp_path, source=str(tmp_path), levels=("Q8_0",))
    with pytest.raises(RuntimeError, match="checked source"):
        choices.conversion_job(CancelToken())


def test_calibration_time_is_said_for_texts_and_grows_with_them(tiny: Path, tmp_path: Path) -> None:
    from converter.errors import CalibrationTextError
    from desktop.services.conversion_pipeline import CalibrationChoice, calibration_time_text

    short, long = tmp_path / "short.txt", tmp_path / "long.txt"
    short.write_text("ships sail from the harbour at dawn. " * 60)  # about 1 chunk
    long.write_text("ships sail from the harbour at dawn. " * 600)  # about 10
    said_short = calibration_time_text(tiny, CalibrationChoice("text", short), threads=1)
    said_long = calibration_time_text(tiny, CalibrationChoice("text", long), threads=1)
    assert said_short.endswith("(about 1 chunk of 512 tokens of short.txt).")
    assert said_long.endswith("(about 10 chunks of 512 tokens of long.txt).")
    assert said_long.startswith("Calibrating takes about ") and "on this machine's CPU" in said_long
    # A matrix file needs no collecting; an unusable text says why before anything runs.
    assert calibration_time_text(tiny, CalibrationChoice("file", long)) == ""
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(CalibrationTextError):
        calibration_time_text(tiny, CalibrationChoice("text", empty))
