"""How many replies the local API generates at once when the user leaves it to the app."""

from __future__ import annotations

from pathlib import Path

from desktop.engine.worker import LoadSettings


def parallel_slots(model: Path, load: LoadSettings) -> int:
    """The most slots whose KV cache the fit planner says fits (4, 2 or 1).

    Reads the file's header and probes the machine: call it off the GUI thread.
    """
    from converter.model_summary import read_gguf_summary
    from desktop.engine.fit_planner import plan_parallel
    from desktop.engine.hardware import probe_hardware

    try:
        summary = read_gguf_summary(model)
    except Exception:  # not a readable GGUF: the load says why, with one slot
        return 1
    ctx = load.ctx_tokens or summary.n_ctx_train
    slots, _plan = plan_parallel(summary, probe_hardware(), ctx_tokens=ctx, kv_type=load.kv_type)
    return slots
