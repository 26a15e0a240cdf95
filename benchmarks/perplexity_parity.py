"""Quantdesk's quality figures against llama.cpp's own ``llama-perplexity --kl-divergence``.

    python benchmarks/perplexity_parity.py LLAMA_BIN REFERENCE.gguf CANDIDATE.gguf [...]
        [--text FILE] [--ctx 512] [--chunks 8] [--threads 2]

LLAMA_BIN is the folder ``benchmarks/build_llama_tools.sh`` filled. For each candidate both
measure the same files on the same text, context and number of chunks: llama.cpp first writes
the reference's distributions (``--kl-divergence-base``), then reads them for the candidate;
Quantdesk runs :func:`desktop.engine.measure.quality.measure_quality`. The table gives each
figure (mean KL divergence, same-top share, the candidate's perplexity) with its ± from both
tools and their relative difference; the target is within 2%.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

from converter.progress import run_job
from desktop.engine.measure.eval_text import BUNDLED_TEXT_PATH, load_eval_text
from desktop.engine.measure.quality import measure_quality

_PATTERNS = {
    "kld": r"Mean\s+KLD:\s+([-\d.]+)\s+±\s+([\d.]+)",
    "same_top": r"Same top p:\s+([\d.]+)\s+±\s+([\d.]+)\s*%",
    "ppl": r"Mean PPL\(Q\)\s+:\s+([\d.]+)\s+±\s+([\d.]+)",
}


def _llama(binary: Path, model: Path, text: Path, args: argparse.Namespace, *extra: str) -> str:
    command = [
        str(binary), "-m", str(model), "-f", str(text), "-c", str(args.ctx),
        "-b", str(args.ctx), "--chunks", str(args.chunks), "-t", str(args.threads),
        "-fa", "off",  # as Quantdesk measures (llama-perplexity's default is "auto": on)
        *extra,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{binary.name} failed:\n{done.stderr[-2000:]}")
    return done.stdout + done.stderr


def llama_figures(
    binary: Path, base: Path, candidate: Path, text: Path, args: argparse.Namespace
) -> dict[str, tuple[float, float]]:
    """The candidate's figures against the reference's distributions in ``base``."""
    out = _llama(
        binary, candidate, text, args, "--kl-divergence-base", str(base), "--kl-divergence"
    )
    figures = {}
    for name, pattern in _PATTERNS.items():
        match = re.search(pattern, out)
        if match is None:
            raise SystemExit(f"no {name} line in llama-perplexity's output:\n{out[-3000:]}")
        value, error = float(match.group(1)), float(match.group(2))
        figures[name] = (value / 100, error / 100) if name == "same_top" else (value, error)
    return figures


def _relative(ours: float, theirs: float) -> str:
    return f"{100 * (ours - theirs) / theirs:+.2f}%" if theirs else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("llama_bin", type=Path)
    parser.add_argument("reference", type=Path)
    parser.add_argument("candidates", type=Path, nargs="+")
    parser.add_argument("--text", type=Path, default=BUNDLED_TEXT_PATH)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    binary = args.llama_bin / "llama-perplexity"
    ours = run_job(
        measure_quality(
            args.reference, args.candidates, text=load_eval_text(args.text),
            ctx_tokens=args.ctx, max_chunks=args.chunks, threads=args.threads,
        )
    )  # fmt: skip
    print(f"text {args.text.name}, context {args.ctx}, {args.chunks} chunks")
    print(f"{'candidate':28} {'figure':9} {'Quantdesk':>22} {'llama-perplexity':>22} {'diff':>8}")
    base = Path(tempfile.mkdtemp(prefix="kld-base-")) / "base.kld"
    _llama(binary, args.reference, args.text, args, "--kl-divergence-base", str(base))
    for candidate, result in zip(args.candidates, ours.candidates, strict=True):
        theirs = llama_figures(binary, base, candidate, args.text, args)
        mine = {
            "kld": (result.mean_kl, result.kl_error),
            "same_top": (result.same_top, result.same_top_error),
            "ppl": (result.perplexity, result.perplexity_error),
        }
        for name in _PATTERNS:
            (value, error), (their_value, their_error) = mine[name], theirs[name]
            print(
                f"{candidate.name:28} {name:9} {value:12.6f} ± {error:8.6f} "
                f"{their_value:12.6f} ± {their_error:8.6f} {_relative(value, their_value):>8}"
            )


if __name__ == "__main__":
    main()
