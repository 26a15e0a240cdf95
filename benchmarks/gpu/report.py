"""The benchmark's results: one JSON document, rewritten after every step, and its Markdown.

Both files are replaced atomically each time, so a run cut short by a time limit still leaves
everything measured so far in a readable state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from converter.levels import LEVELS
from converter.storage import atomic_output

GIB = 1024**3
MIB = 1024**2
#: Table order: the ladder from smallest to largest, then the full-precision reference.
LEVEL_ORDER = (*(lv.name for lv in LEVELS), "BF16", "F16")


class Results:
    """The results document and the two files it is written to."""

    def __init__(self, folder: Path, header: dict[str, Any]) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, Any] = {
            **header,
            "steps": {},
            "levels": {},
            "app_defaults": None,
            "flash_attention": None,
            "vram": [],
            "partial_offload": [],
            "notes": [],
            "errors": [],
        }

    def save(self) -> None:
        for name, text in (
            ("results.json", json.dumps(self.data, indent=1, default=str)),
            ("results.md", render_markdown(self.data)),
        ):
            with atomic_output(self.folder / name) as partial:
                partial.write_text(text, encoding="utf-8")


def _gib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / GIB:.2f}"


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.0f}"


def _rate(value: float | None) -> str:
    return "n/a" if not value else f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _error(predicted: float | None, measured: float | None) -> str:
    return "n/a" if not predicted or not measured else f"{(predicted - measured) / measured:+.1%}"


def _level_rows(levels: dict[str, Any], pp: str, tg: str) -> list[str]:
    rows = [
        f"| level | file GiB | {pp} plain | {pp} Quantdesk | ratio | {tg} llama-bench loop "
        f"| {tg} plain | {tg} Quantdesk | ratio | ceiling t/s | share | VRAM GiB pred / meas "
        "| error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(levels, key=lambda n: LEVEL_ORDER.index(n) if n in LEVEL_ORDER else 99):
        r = levels[name]
        if "plain" not in r:
            continue
        p, w = r["plain"], r["worker"]
        rows.append(
            f"| {name} | {_gib(r['file_bytes'])} | {_rate(p['generate_pp'])} | {_rate(w['pp'])} "
            f"| {_share(r['ratio_pp'])} | {_rate(p['bench_tg'])} | {_rate(p['generate_tg'])} "
            f"| {_rate(w['tg'])} | {_share(r['ratio_tg'])} | {_rate(r['ceiling']['ceiling_tg'])} "
            f"| {_share(r['share_of_ceiling'])} "
            f"| {_gib(r['vram_predicted'])} / {_gib(r['vram_measured'])} "
            f"| {_error(r['vram_predicted'], r['vram_measured'])} |"
        )
    return rows


def _vram_rows(cases: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| level | ctx | KV | FA | total MiB pred / meas | error | weights MiB pred / llama "
        "| KV MiB pred / llama | compute MiB pred / llama | CUDA context MiB pred / meas |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        b, llama, m = c["predicted_breakdown"], c["llama_gpu_buffers"], c["measured"]
        pairs = (
            (c["predicted"], m["measured"]),
            (b["weights_gpu"], llama["model"]),
            (b["kv_gpu"], llama["KV"]),
            (b["compute_gpu"], llama["compute"]),
            (b["gpu_context"], m["context_overhead"]),
        )
        cells = [f"{_mib(p)} / {_mib(q)}" for p, q in pairs]
        cells.insert(1, _error(c["predicted"], m["measured"]))
        fa = "on" if c["flash_attention"] else "off"
        rows.append(f"| {c['level']} | {c['ctx']} | {c['kv_type']} | {fa} | {' | '.join(cells)} |")
    return rows


def _partial_rows(cases: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| level | pretended free GiB | ctx | planner | GPU layers | VRAM GiB pred / meas "
        "| error | within budget | pp t/s | tg t/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        m = c["measured"]["measured"]
        rows.append(
            f"| {c['level']} | {_gib(c['budget_bytes'])} | {c['ctx']} | {c['verdict']} "
            f"| {c['gpu_layers']} of {c['total_layers']} | {_gib(c['predicted'])} / {_gib(m)} "
            f"| {_error(c['predicted'], m)} | {c['within_budget']} | {_rate(c['worker_pp'])} "
            f"| {_rate(c['worker_tg'])} |"
        )
    return rows


def _defaults_lines(data: dict[str, Any], pp: str, tg: str) -> list[str]:
    lines: list[str] = []
    defaults = data.get("app_defaults")
    if defaults:
        w, planner = defaults["worker"], defaults["planner"]
        lines += [
            f"App defaults on {defaults['level']}: settings {defaults['settings']}.",
            f"The fit planner says: {planner['verdict']}, {planner['gpu_layers']} of "
            f"{planner['total']} layers ({planner['explanation']})",
            f"The worker used {w['gpu_layers']} of {defaults['total_layers']} layers, flash "
            f"attention {'on' if w['flash_attention'] else 'off'}; pp {_rate(w['pp'])} t/s, "
            f"tg {_rate(w['tg'])} t/s. Notes: {w['notes'] or 'none'}.",
            "",
        ]
    fa = data.get("flash_attention")
    if fa:
        lines += [
            f"| flash attention | {pp} plain | {pp} Quantdesk | {tg} plain | {tg} Quantdesk |",
            "|---|---|---|---|---|",
        ]
        for label in ("off", "on"):
            r = fa.get(label)
            if r:
                p, w = r["plain"], r["worker"]
                lines.append(
                    f"| {label} ({fa['level']}) | {_rate(p['generate_pp'])} "
                    f"| {_rate(w['pp'])} | {_rate(p['generate_tg'])} | {_rate(w['tg'])} |"
                )
        lines.append("")
    return lines


def render_markdown(data: dict[str, Any]) -> str:
    machine = data.get("machine", {})
    bandwidth = data.get("bandwidth") or {}
    settings = data.get("settings", {})
    pp, tg = f"pp{settings.get('prompt_tokens', '')}", f"tg{settings.get('gen_tokens', '')}"
    lines = [
        "# GPU offload benchmark",
        "",
        f"Machine: {machine.get('gpu', 'no GPU')}; {machine.get('cpu', '?')}; "
        f"llama-cpp-python {machine.get('llama_cpp', '?')} ({machine.get('backends', '?')}).",
        f"Model: {data.get('shape_name')} {data.get('shape')}. Settings: {data.get('settings')}.",
        f"Memory bandwidth: {_rate((bandwidth.get('bytes_per_second') or 0) / 1e9)} GB/s "
        f"({bandwidth.get('method', 'not measured')}).",
        "",
        "Speeds in tokens/s, median of the runs. *plain*: `llama_cpp.Llama` with the same "
        "settings and the same greedy generate loop; *ratio*: Quantdesk / plain. The llama-bench "
        "loop is the pure decode speed from an empty cache (no sampling). *ceiling*: bandwidth / "
        "(GPU weights + KV cache read per token).",
        "",
        *_level_rows(data.get("levels", {}), pp, tg),
        "",
        *_defaults_lines(data, pp, tg),
    ]
    if data.get("vram"):
        lines += ["## Predicted vs measured VRAM (full offload)", "", *_vram_rows(data["vram"]), ""]
    if data.get("partial_offload"):
        lines += ["## Partial offload", "", *_partial_rows(data["partial_offload"]), ""]
    steps = data.get("steps", {})
    if steps:
        lines += ["## Steps", "", "| step | status | seconds |", "|---|---|---|"]
        lines += [
            f"| {k} | {v.get('status')} | {v.get('seconds', 0):.0f} |" for k, v in steps.items()
        ]
        lines.append("")
    for title, key in (("Notes", "notes"), ("Errors", "errors")):
        if data.get(key):
            lines += [f"## {title}", "", *(f"- {item}" for item in data[key]), ""]
    return "\n".join(lines)
