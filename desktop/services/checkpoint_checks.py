"""The wizard's check step: everything that would stop a conversion, found before it starts.

Each check is a row (passed? why not, in words). The checkpoint's GGUF header is written on
its own to a temporary file (``converter.preview``), without any weights, so the levels step
can predict every level's size and memory fit from the shapes llama.cpp will see. No Qt.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from converter.errors import QuantdeskError
from converter.storage import format_bytes

#: Room for the full-precision file plus a few quantized levels, as a share of its size.
DISK_FACTOR_WITH_LEVELS = 2.0


@dataclass(frozen=True, slots=True)
class CheckRow:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Inspection:
    source: Path
    model_name: str
    architecture: str
    outtype: str  # "F16", "BF16", "F32"
    converted_bytes: int
    rows: tuple[CheckRow, ...]
    preview: Path | None = None  # header-only GGUF for the ladder prediction
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)


def inspect_source(
    source: Path, out_dir: Path, preview_dir: Path | None = None, *, name: str | None = None
) -> Inspection:
    """Run every check; never raises for a problem with the checkpoint (it becomes a row).

    ``name`` names the model and its files (default: the folder's name).
    """
    from converter.architectures import find_architecture
    from converter.architectures.hparams import read_hparams
    from converter.architectures.plan import plan_tensors
    from converter.checkpoint import open_checkpoint
    from converter.convert import estimated_size, resolve_outtype
    from converter.preview import write_header_preview
    from converter.tokenizer import load_tokenizer

    model_name = name or source.name
    rows: list[CheckRow] = []

    def fail(name: str, exc: Exception) -> Inspection:
        rows.append(CheckRow(name, False, str(exc)))
        return Inspection(source, model_name, "", "", 0, tuple(rows))

    try:
        checkpoint = open_checkpoint(source)
    except QuantdeskError as exc:
        return fail("Checkpoint files", exc)
    rows.append(CheckRow("Checkpoint files", True, f"{len(checkpoint.tensors)} tensors found."))
    try:
        spec = find_architecture(checkpoint.config)
        hp = read_hparams(checkpoint.config)
        plan = plan_tensors(checkpoint, spec, hp)
    except QuantdeskError as exc:
        return fail("Architecture supported", exc)
    supported = " ".join((f"{spec.name}: Quantdesk can convert it.", *spec.notes))
    rows.append(CheckRow("Architecture supported", True, supported))
    try:
        load_tokenizer(source, vocab_size=hp.vocab_size)
    except QuantdeskError as exc:
        return fail("Tokenizer recognised", exc)
    rows.append(
        CheckRow("Tokenizer recognised", True, "The tokenizer can be converted faithfully.")
    )
    out = resolve_outtype(None, hp)
    size = estimated_size(plan, out)
    needed = int(size * DISK_FACTOR_WITH_LEVELS)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(out_dir).free
    except OSError as exc:
        rows.append(CheckRow("Enough disk space", False, f"Cannot use {out_dir}: {exc.strerror}."))
    else:
        rows.append(
            CheckRow(
                "Enough disk space",
                free >= needed,
                f"Needs about {format_bytes(needed)} (the {out.level} file and the levels); "
                f"{format_bytes(free)} free in {out_dir}."
                + ("" if free >= needed else " Free some space or choose fewer levels."),
            )
        )
    folder = preview_dir or Path(tempfile.mkdtemp(prefix="quantdesk-preview-"))
    preview = write_header_preview(source, folder, name=model_name)
    return Inspection(
        source, model_name, spec.name, out.level, size, tuple(rows), preview, spec.notes
    )


def _inspect_in_child(
    _emit: object, source: Path, out_dir: Path, preview_dir: Path | None, name: str | None
) -> Inspection:
    return inspect_source(source, out_dir, preview_dir, name=name)


def inspect_source_in_child(
    source: Path, out_dir: Path, preview_dir: Path | None = None, *, name: str | None = None
) -> Inspection:
    """:func:`inspect_source` in a child process: for callers that share a process with a GUI.

    Parsing a tokenizer (``json.loads`` of a tokenizer.json of tens of megabytes, a
    SentencePiece model) holds the GIL for up to a second at a time, which froze the window
    even though the check ran in a worker thread. A child process has its own GIL.
    """
    from converter.child_process import run_in_child

    return run_in_child(
        _inspect_in_child, source, out_dir, preview_dir, name, what="Checking the checkpoint"
    )
