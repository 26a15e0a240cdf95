"""What this machine offers llama.cpp: CPU, RAM, GPUs, and whether the installed build can offload.

Probing is quick (well under a second) and never raises: a missing NVIDIA library, a missing
driver or no GPU at all are normal answers, reported in ``gpu_note``. llama.cpp itself is asked
which backends it was built with, so a CUDA GPU next to a CPU-only build is spotted and the
exact reinstall command can be shown.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

#: CPU flags (Linux /proc/cpuinfo names) that llama.cpp's CPU kernels use, and how we show them.
_X86_FLAGS = (("avx2", "AVX2"), ("fma", "FMA"), ("f16c", "F16C"), ("avx512f", "AVX-512"),
              ("avx512_vnni", "AVX-512 VNNI"), ("avx512_bf16", "AVX-512 BF16"),
              ("amx_tile", "AMX"), ("amx_int8", "AMX INT8"), ("amx_bf16", "AMX BF16"))  # fmt: skip
_ARM_FLAGS = (("asimd", "NEON"), ("asimddp", "DOTPROD"), ("i8mm", "I8MM"), ("sve", "SVE"),
              ("sve2", "SVE2"), ("fphp", "FP16"))  # fmt: skip
#: Share of unified memory macOS lets Metal keep resident (``recommendedMaxWorkingSetSize``):
#: about two thirds on machines up to 36 GiB, three quarters above (Apple's observed figures).
METAL_SMALL_SHARE, METAL_LARGE_SHARE, METAL_LARGE_FROM = 2 / 3, 3 / 4, 36 * 1024**3
GPU_BACKENDS = ("CUDA", "Metal", "Vulkan", "HIP", "SYCL", "OpenCL", "CANN", "MUSA")


def default_threads() -> int:
    """The CPU threads llama.cpp's own tools use when not told: one per physical core (half
    the logical CPUs when the count of physical ones is unknown). Hyper-threads add little to
    matrix work and, idle, they spin-wait beside the threads that do the rest."""
    return psutil.cpu_count(logical=False) or max(1, (os.cpu_count() or 2) // 2)


def shared_threads(processes: int) -> int:
    """Threads for each of ``processes`` models answering at the same time: the default split
    between them (at least 1). More threads than cores make llama.cpp's threads wait for one
    another at every step (on 2 busy cores, runs of 7 to 250 tokens/s where 1 thread gave 600)."""
    return max(1, default_threads() // max(1, processes))


@dataclass(frozen=True, slots=True)
class CpuInfo:
    model: str
    architecture: str  # "x86_64", "arm64" …
    physical_cores: int
    logical_cores: int
    features: tuple[str, ...]  # as the OS reports them
    llama_features: tuple[str, ...]  # what this llama.cpp build enables ("AVX2", "NEON" …)


@dataclass(frozen=True, slots=True)
class GpuInfo:
    index: int
    name: str
    kind: str  # "CUDA" (NVIDIA) or "Metal" (Apple Silicon)
    total_bytes: int
    free_bytes: int  # Metal: the recommended working set, RAM it shares with the CPU
    driver_version: str = ""
    compute_capability: str = ""
    unified_memory: bool = False


@dataclass(frozen=True, slots=True)
class OffloadSupport:
    llama_cpp_version: str
    supports_gpu_offload: bool
    backends: tuple[str, ...]  # ggml backends compiled in: "CPU", "CUDA" …


@dataclass(frozen=True, slots=True)
class HardwareInfo:
    os: str
    cpu: CpuInfo
    ram_total_bytes: int
    ram_available_bytes: int
    gpus: tuple[GpuInfo, ...]
    gpu_note: str  # plain words on GPU detection ("no NVIDIA driver found" …)
    offload: OffloadSupport

    @property
    def usable_gpus(self) -> tuple[GpuInfo, ...]:
        """GPUs the installed llama.cpp build can actually offload to."""
        return tuple(g for g in self.gpus if g.kind in self.offload.backends)

    def reinstall_hint(self) -> str | None:
        """The command that rebuilds llama-cpp-python for a GPU it currently ignores, if any."""
        unused = [g for g in self.gpus if g.kind not in self.offload.backends]
        if not unused or self.usable_gpus:
            return None
        flag = "-DGGML_METAL=on" if unused[0].kind == "Metal" else "-DGGML_CUDA=on"
        version = self.offload.llama_cpp_version or "0.3.36"
        return (
            f'CMAKE_ARGS="{flag}" {sys.executable} -m pip install --force-reinstall '
            f"--no-cache-dir --no-deps llama-cpp-python=={version}"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HardwareInfo:
        def tuples(d: dict[str, Any]) -> dict[str, Any]:
            return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

        return cls(
            os=data["os"],
            cpu=CpuInfo(**tuples(data["cpu"])),
            ram_total_bytes=data["ram_total_bytes"],
            ram_available_bytes=data["ram_available_bytes"],
            gpus=tuple(GpuInfo(**g) for g in data["gpus"]),
            gpu_note=data["gpu_note"],
            offload=OffloadSupport(**tuples(data["offload"])),
        )


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=2).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model_name() -> str:
    """The processor's model name ("AMD EPYC 9454P 48-Core Processor"), as the OS reports it."""
    return _cpu_from_os()[0]


def _cpu_from_os() -> tuple[str, tuple[str, ...]]:
    """Model name and feature flags from /proc/cpuinfo (Linux) or sysctl (macOS)."""
    system = platform.system()
    if system == "Linux":
        try:
            text = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            text = ""
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
        flags = set((fields.get("flags") or fields.get("features") or "").split())
        known = _X86_FLAGS + _ARM_FLAGS
        model = fields.get("model name") or fields.get("hardware") or platform.processor()
        return model, tuple(label for flag, label in known if flag in flags)
    if system == "Darwin":
        model = _run(["sysctl", "-n", "machdep.cpu.brand_string"]) or platform.processor()
        features = ("NEON",) if platform.machine() == "arm64" else ()
        return model, features
    return platform.processor() or platform.machine(), ()


def _llama_offload() -> tuple[OffloadSupport, tuple[str, ...]]:
    """Ask llama.cpp which backends it has and which CPU features it was built for."""
    try:
        import llama_cpp
    except Exception:
        return OffloadSupport("", False, ()), ()
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    backends: list[str] = []
    cpu_features: list[str] = []
    current = ""
    for part in info.split("|"):
        name, sep, rest = part.partition(" : ")
        if sep:
            current = name.strip()
            backends.append(current)
            part = rest
        key, _, value = part.partition("=")
        if current == "CPU" and value.strip() == "1":
            cpu_features.append(key.strip())
    backends += [
        b for b in _registered_backends(Path(llama_cpp.__file__).parent) if b not in backends
    ]
    support = OffloadSupport(
        llama_cpp_version=getattr(llama_cpp, "__version__", ""),
        supports_gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
        backends=tuple(backends),
    )
    return support, tuple(cpu_features)


def _registered_backends(package_dir: Path) -> tuple[str, ...]:
    """Backend names from ggml's registry (libggml is already loaded by llama_cpp)."""
    names = {"Linux": "libggml.so", "Darwin": "libggml.dylib", "Windows": "ggml.dll"}
    library = package_dir / "lib" / names.get(platform.system(), "libggml.so")
    try:
        ggml = ctypes.CDLL(str(library))
        ggml.ggml_backend_reg_get.restype = ctypes.c_void_p
        ggml.ggml_backend_reg_get.argtypes = [ctypes.c_size_t]
        ggml.ggml_backend_reg_name.restype = ctypes.c_char_p
        ggml.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
        count = ggml.ggml_backend_reg_count()
        return tuple(
            ggml.ggml_backend_reg_name(ggml.ggml_backend_reg_get(i)).decode() for i in range(count)
        )
    except (OSError, AttributeError):
        return ()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _nvidia_gpus() -> tuple[tuple[GpuInfo, ...], str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pynvml
    except ImportError:
        return (), "NVIDIA library (pynvml) not installed; NVIDIA GPUs were not looked for."
    try:
        pynvml.nvmlInit()
    except Exception:
        return (), "No NVIDIA driver found."
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    kind="CUDA",
                    total_bytes=int(memory.total),
                    free_bytes=int(memory.free),
                    driver_version=_text(driver),
                    compute_capability=f"{major}.{minor}",
                )
            )
        return tuple(gpus), "" if gpus else "NVIDIA driver present, but no GPU found."
    except Exception as exc:
        return (), f"Reading the NVIDIA GPUs failed: {exc}."
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _metal_gpu(ram_total: int) -> GpuInfo:
    share = METAL_LARGE_SHARE if ram_total > METAL_LARGE_FROM else METAL_SMALL_SHARE
    name = _run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "Apple Silicon GPU"
    working_set = int(ram_total * share)
    return GpuInfo(0, name, "Metal", working_set, working_set, unified_memory=True)


def probe_hardware() -> HardwareInfo:
    """Describe this machine. Never raises; unknown figures are zero or empty."""
    memory = psutil.virtual_memory()
    model, features = _cpu_from_os()
    offload, llama_features = _llama_offload()
    gpus: tuple[GpuInfo, ...]
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        gpus, note = (_metal_gpu(memory.total),), "Apple Silicon: the GPU shares RAM (Metal)."
    else:
        gpus, note = _nvidia_gpus()
    cpu = CpuInfo(
        model=model or "unknown CPU",
        architecture=platform.machine(),
        physical_cores=psutil.cpu_count(logical=False) or os.cpu_count() or 1,
        logical_cores=psutil.cpu_count(logical=True) or os.cpu_count() or 1,
        features=features,
        llama_features=llama_features,
    )
    return HardwareInfo(
        os=f"{platform.system()} {platform.release()}",
        cpu=cpu,
        ram_total_bytes=int(memory.total),
        ram_available_bytes=int(memory.available),
        gpus=gpus,
        gpu_note=note,
        offload=offload,
    )


#: Large enough to miss every cache level (a server CPU's L3 reaches 32–256 MiB: the figure is
#: then an upper bound, which only matters for machines far beyond the ones it decides for).
BANDWIDTH_BUFFER_BYTES = 64 * 1024**2


def measure_memory_bandwidth(budget_seconds: float = 0.25) -> float:
    """Bytes per second one core moves between RAM and itself (the best of a few copies).

    A copy reads and writes each byte, so a copy of N bytes moves 2N. Stops starting new copies
    when the next one would end after ``budget_seconds`` (setting up included; the first copy,
    which also maps the pages, is not counted). Run it off the GUI thread.
    """
    import time

    import numpy as np

    started = time.perf_counter()
    size = BANDWIDTH_BUFFER_BYTES
    source = np.ones(size, dtype=np.uint8)
    target = np.empty_like(source)
    np.copyto(target, source)  # maps the target's pages
    best = 0.0
    while True:
        before = time.perf_counter()
        np.copyto(target, source)
        took = time.perf_counter() - before
        if took > 0:
            best = max(best, 2 * size / took)
        if time.perf_counter() - started + took > budget_seconds:
            return best
