"""The conversion wizard end to end on a tiny real checkpoint: check, levels, run, done."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox, QWizard
from pytestqt.qtbot import QtBot

from converter.paths import library_dir
from desktop.engine.measure.measure_options import MeasureOptions
from desktop.services.checkpoint_checks import inspect_source
from desktop.services.conversion_pipeline import StepProgress
from desktop.services.conversion_sources import LocalFolder, resolver_for
from desktop.services.library import read_facts
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.main_window import MainWindow
from tests.support.checkpoints import build_checkpoint
from tests.support.tokenizer_helpers import edit_json
from tests.support.ui_dialogs import MessageBoxAnswer
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    wait_until,
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checkpoint(
        "llama", tmp_path_factory.mktemp("ckpt") / "tiny-llama", num_hidden_layers=1
    )


def test_wizard_converts_and_quantizes_into_the_library(
    qtbot: QtBot, main_window: Callable[[], MainWindow], checkpoint: Path
) -> None:
    window = main_window()
    wizard = window.open_wizard()
    qtbot.addWidget(wizard)
    wizard.source_page.source.setText(str(checkpoint))
    assert wizard.source_page.isComplete()
    wizard.next()
    wait_until(qtbot, lambda: wizard.check_page.inspection is not None)
    assert wizard.check_page.isComplete(), [r.detail for r in wizard.check_page.inspection.rows]
    wizard.next()
    page = wizard.levels_page
    wait_until(qtbot, lambda: page.table.rowCount() > 0)
    assert page.recommended is not None
    assert page.chosen_levels() == [page.recommended]
    page.set_chosen(["Q4_K_M", "Q8_0"])
    wizard.next()
    choices = wizard.choices  # what the pages chose, where the later pages read it
    assert choices.source == str(checkpoint) and choices.levels == ("Q4_K_M", "Q8_0")
    assert choices.calibration is None and choices.recommended_level == page.recommended
    wait_until(qtbot, lambda: wizard.currentPage() is wizard.done_page, timeout_ms=180_000)
    assert choices.result is not None and len(choices.written_paths()) == 3
    names = sorted(p.name for p in library_dir().glob("*.gguf"))
    assert names == ["tiny-llama-F16.gguf", "tiny-llama-Q4_K_M.gguf", "tiny-llama-Q8_0.gguf"]
    assert not [p for p in library_dir().iterdir() if p.name.startswith(".")]  # no partial files
    assert wizard.run_page.log_path.read_text().count("Wrote") == 3
    tree = window.library.tree  # the folder is watched: files show as they are written
    wait_until(
        qtbot, lambda: tree.topLevelItemCount() == 1 and tree.topLevelItem(0).childCount() == 3
    )
    ladder = window.compare.ladder
    ladder.measure_options = MeasureOptions(
        ctx_tokens=64, max_chunks=1, speed_repeats=1, prompt_tokens=8, gen_tokens=4, threads=1
    )
    wizard.done_page.measure_button.click()  # "measure speed and quality now"
    wait_until(qtbot, lambda: ladder._measure is not None and ladder._measure.done, 120_000)
    assert "Measured" in ladder.status.text(), ladder.status.text()
    measured = lambda: [p for p in ladder.chart.points if p.same_top is not None]  # noqa: E731
    wait_until(qtbot, lambda: len(measured()) == 3)
    points = ladder.chart.points
    assert all(p.gen_tokens_per_s for p in points)
    q4, q8 = (next(p for p in points if p.level == name) for name in ("Q4_K_M", "Q8_0"))
    assert q8.mean_kl < q4.mean_kl  # more bits, closer to the reference
    assert len(window.compare.chosen_paths()) == 3


def test_check_explains_a_folder_that_is_not_a_checkpoint(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text('{"architectures": ["NoSuchForCausalLM"]}')
    window = main_window()
    wizard = window.open_wizard()
    qtbot.addWidget(wizard)
    wizard.source_page.source.setText(str(tmp_path))
    wizard.next()
    wait_until(qtbot, lambda: wizard.check_page.inspection is not None)
    assert not wizard.check_page.isComplete()
    failed = [r for r in wizard.check_page.inspection.rows if not r.ok]
    assert failed and failed[0].detail
    wizard.close()


def test_check_names_the_tokenizer_step_it_cannot_convert(checkpoint: Path, tmp_path: Path) -> None:
    """A SentencePiece tokenizer.json with a step llama.cpp lacks: a sentence, not its JSON."""
    folder = tmp_path / "tiny-llama"
    shutil.copytree(checkpoint, folder)
    (folder / "tokenizer.model").unlink()
    edit_json(folder / "tokenizer.json", lambda t: t.update(normalizer={"type": "NFKC"}))

    inspection = inspect_source(folder, tmp_path / "out")

    (row,) = [row for row in inspection.rows if not row.ok]
    assert row.name == "Tokenizer recognised"
    assert "NFKC step" in row.detail and "cannot be converted faithfully" in row.detail
    assert "{" not in row.detail


def test_source_resolvers_accept_folders_only(tmp_path: Path) -> None:
    assert isinstance(resolver_for(str(tmp_path)), LocalFolder)
    assert resolver_for(str(tmp_path / "missing")) is None
    assert resolver_for("") is None


def _run_three_levels(qtbot: QtBot, window: MainWindow, checkpoint: Path) -> Any:
    """Open the wizard on ``checkpoint`` and start converting it to three levels."""
    wizard = window.open_wizard()
    wizard.source_page.source.setText(str(checkpoint))
    wizard.next()
    wait_until(qtbot, lambda: wizard.check_page.inspection is not None)
    wizard.next()
    wait_until(qtbot, lambda: wizard.levels_page.table.rowCount() > 0)
    wizard.levels_page.set_chosen(["Q4_K_M", "Q6_K", "Q8_0"])
    wizard.next()
    return wizard


def test_cancel_during_the_run_keeps_only_complete_files_and_the_window_works(
    qtbot: QtBot, main_window: Callable[[], MainWindow], checkpoint: Path
) -> None:
    window = main_window()
    wizard = _run_three_levels(qtbot, window, checkpoint)
    qtbot.addWidget(wizard)
    run = wizard.run_page
    assert run.worker is not None and run.running
    confirm = MessageBoxAnswer(QMessageBox.StandardButton.Yes)
    cancelled_in: list[str] = []

    def cancel_once_quantizing(event: StepProgress) -> None:
        if event.step >= 1 and not cancelled_in:  # the F16 file is complete by now
            cancelled_in.append(event.title)
            wizard.button(QWizard.WizardButton.CancelButton).click()

    run.worker.signals.yielded.connect(cancel_once_quantizing)
    wait_until(qtbot, lambda: run.worker is not None and run.worker.done, 120_000)
    assert cancelled_in and "Stop converting?" in confirm.texts[0]
    assert not wizard.isVisible() and run.result is None
    assert run.log_path is not None
    assert "Cancelled; no partial file was kept." in run.log_path.read_text()

    kept = sorted(p.name for p in library_dir().iterdir())
    assert "tiny-llama-F16.gguf" in kept and len(kept) < 4  # not every level was made
    for name in kept:  # nothing half-written: every file is a complete, readable GGUF
        assert name.startswith("tiny-llama-") and name.endswith(".gguf"), kept
        assert not read_facts(library_dir() / name).error
    window.library.refresh()
    wait_until(qtbot, lambda: window.compare.levels.count() == len(kept))  # listed, usable
    chat = window.chat
    chat.load_model(str(library_dir() / "tiny-llama-F16.gguf"), insist=True)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)


def test_quitting_the_app_mid_run_stops_the_conversion_without_asking(
    qtbot: QtBot, main_window: Callable[[], MainWindow], checkpoint: Path
) -> None:
    window = main_window()
    wizard = _run_three_levels(qtbot, window, checkpoint)
    run = wizard.run_page
    assert run.worker is not None
    questions = MessageBoxAnswer(QMessageBox.StandardButton.No)  # would keep it running
    run.worker.signals.yielded.connect(
        lambda event: window.close() if event.step >= 1 and window.isVisible() else None
    )
    wait_until(qtbot, lambda: run.worker is not None and run.worker.done, 120_000)
    questions.stop()
    assert questions.texts == [] and not wizard.isVisible()
    assert "Cancelled; no partial file was kept." in run.log_path.read_text()
    assert not [p for p in library_dir().iterdir() if not p.name.endswith(".gguf")]
    assert len(list(library_dir().glob("*.gguf"))) < 4


def test_calibrate_adds_iq_levels_and_makes_calibrated_files_grouped_with_the_model(
    qtbot: QtBot, main_window: Callable[[], MainWindow], checkpoint: Path, tmp_path: Path
) -> None:
    text = tmp_path / "domain.txt"
    text.write_text("ships sail from the harbour at dawn and return at dusk. " * 200)
    window = main_window()
    wizard = window.open_wizard()
    qtbot.addWidget(wizard)
    wizard.source_page.source.setText(str(checkpoint))
    wizard.next()
    wait_until(qtbot, lambda: wizard.check_page.inspection is not None)
    wizard.next()
    page = wizard.levels_page
    wait_until(qtbot, lambda: page.table.rowCount() > 0)
    plain_rows = page.table.rowCount()
    assert not page.calibration_path.isVisibleTo(page)

    assert not page.calibration_time.isVisibleTo(page)
    page.calibrate.setChecked(True)
    wait_until(qtbot, lambda: page.table.rowCount() > plain_rows)
    # Before anything runs: how long collecting on the bundled text will take here.
    wait_until(qtbot, lambda: "federalist_papers.txt" in page.calibration_time.text())
    estimate = page.calibration_time.text()
    assert re.match(r"Calibrating takes about \d+ s on this machine's CPU", estimate)
    listed = [page.table.item(r, 0).text() for r in range(page.table.rowCount())]
    assert {"IQ2_XXS", "IQ3_M", "IQ4_XS"} <= set(listed)
    page.calibration_source.setCurrentIndex(page.calibration_source.findData("text"))
    assert page.calibration_path.isVisibleTo(page) and "evaluation text" in (
        page.calibration_hint.text()
    )
    page.set_chosen(["Q2_K", "IQ4_XS"])
    assert not page.isComplete()  # "my own text" still needs its file
    page.calibration_path.setText(str(text))
    assert page.isComplete() and page.chosen_levels() == ["Q2_K", "IQ4_XS"]
    wait_until(qtbot, lambda: "of domain.txt)" in page.calibration_time.text())
    wizard.next()
    wait_until(qtbot, lambda: wizard.currentPage() is wizard.done_page, timeout_ms=240_000)

    names = sorted(p.name for p in library_dir().glob("*.gguf"))
    assert names == ["tiny-llama-F16.gguf", "tiny-llama-F16.imatrix.gguf",
                     "tiny-llama-IQ4_XS-imatrix.gguf", "tiny-llama-Q2_K-imatrix.gguf"]  # fmt: skip
    assert "Calibrating with the text" in wizard.run_page.log_path.read_text()
    facts = read_facts(library_dir() / "tiny-llama-Q2_K-imatrix.gguf")
    assert facts.calibrated and facts.level_label == "Q2_K calibrated"
    wait_until(qtbot, lambda: window.library.tree.topLevelItemCount() == 1)
    tree = window.library.tree
    wait_until(
        qtbot, lambda: tree.topLevelItem(0) is not None and tree.topLevelItem(0).childCount() >= 3
    )
    group = tree.topLevelItem(0)
    assert group.childCount() == 3  # the matrix file is not a model
    labels = sorted(group.child(i).text(0) for i in range(3))
    assert labels[0].startswith("F16") and labels[1].startswith("IQ4_XS calibrated")
    assert labels[2].startswith("Q2_K calibrated")
