"""A conversion's GGUF header on its own: metadata and tensor infos, no weights.

The memory-fit planner and the level ladder only read a GGUF's header, so writing just the
header of the file a conversion *would* make lets them predict every level's size and fit in
a second, before gigabytes of weights are converted. The header is written by the same code
as the real conversion, so the shapes and types are the ones llama.cpp will see.
"""

from __future__ import annotations

from pathlib import Path

import gguf

from converter.convert import ConversionPlan, plan_conversion, write_header
from converter.storage import atomic_output, ensure_writable_folder

#: Replaces ``.gguf`` in the conversion's file name, so a preview is never taken for a model.
PREVIEW_SUFFIX = ".preview.gguf"


def preview_name(conversion: ConversionPlan) -> str:
    return conversion.file_name.removesuffix(".gguf") + PREVIEW_SUFFIX


def write_conversion_preview(conversion: ConversionPlan, dest_dir: Path) -> Path:
    """Write ``dest_dir/<name>-<level>.preview.gguf`` for an already planned conversion."""
    dest_dir = Path(dest_dir)
    ensure_writable_folder(dest_dir)
    final = dest_dir / preview_name(conversion)
    with atomic_output(final) as partial:
        writer = gguf.GGUFWriter(partial, conversion.spec.name)
        try:
            write_header(writer, conversion)
        finally:
            writer.close()
    return final


def write_header_preview(
    source: Path, dest_dir: Path, *, outtype: str | None = None, name: str | None = None
) -> Path:
    """Header-only GGUF of converting the checkpoint folder ``source``; returns its path.

    Raises the conversion's own errors (unsupported architecture, bad tokenizer …), so a
    checkpoint that previews is one that converts.
    """
    conversion = plan_conversion(source, outtype=outtype, name=name)
    return write_conversion_preview(conversion, dest_dir)
