"""An error raised in a child process comes back to the parent as the same class."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from converter.child_process import run_in_child
from converter.errors import Cancelled, QuantdeskError, error_class_name, rebuild_error
from converter.hub.hub_errors import HubError
from tests.conftest import REPO_ROOT


def _raise_hub_error(emit: Callable[[Any], None]) -> None:
    raise HubError("The repository example/private is gated: accept its licence first.")


def _raise_bug(emit: Callable[[Any], None]) -> None:
    raise KeyError("tokenizer.ggml.tokens")


def test_a_child_error_keeps_its_class_and_sentence() -> None:
    with pytest.raises(HubError, match="is gated: accept its licence first"):
        run_in_child(_raise_hub_error, what="Downloading")


def test_a_bug_in_the_child_names_the_job_that_failed() -> None:
    with pytest.raises(QuantdeskError, match="Converting failed unexpectedly") as caught:
        run_in_child(_raise_bug, what="Converting")
    assert type(caught.value) is QuantdeskError


def test_a_class_the_parent_never_imported_is_found_in_its_module() -> None:
    """The parent may not have imported the module whose error the child raised."""
    script = textwrap.dedent(
        """
        import sys
        from converter.errors import rebuild_error
        error = rebuild_error(
            "desktop.engine.measure.eval_text:EvalTextError", "The text is empty.", "Measuring"
        )
        assert "desktop.engine.measure.eval_text" in sys.modules
        print(type(error).__module__, type(error).__name__, error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [
        "desktop.engine.measure.eval_text", "EvalTextError", "The", "text", "is", "empty."
    ]  # fmt: skip


def test_cancelled_and_unknown_names() -> None:
    assert str(rebuild_error(error_class_name(Cancelled), "", "Quantizing")) == (
        "Quantizing was cancelled; nothing was written."
    )
    assert type(rebuild_error("os:OSError", "disk", "Saving")) is QuantdeskError
    assert type(rebuild_error("converter.errors:NoSuchError", "x", "Saving")) is QuantdeskError
