"""What this machine has (CPU, RAM, GPUs, offload) and the loaded model's live memory.

The probe and the memory polls run in worker threads: probing NVIDIA GPUs or asking the
worker process for its memory can take longer than a frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from converter.storage import format_bytes
from desktop.ui.thread_tasks import ThreadTask, call_worker

if TYPE_CHECKING:  # the probe is imported when it runs, not with the window
    from desktop.engine.hardware import HardwareInfo
    from desktop.engine.worker import WorkerStats

POLL_MS = 1500


def _label(name: str, *, wrap: bool = False) -> QLabel:
    label = QLabel("…")
    label.setAccessibleName(name)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class HardwarePanel(QWidget):
    """Shows :class:`HardwareInfo`; emits ``hardware_ready`` once the probe is done."""

    hardware_ready = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Hardware")
        self.hardware: HardwareInfo | None = None
        self._stats_source: Callable[[], WorkerStats | None] | None = None
        self._poll: ThreadTask | None = None

        machine = QGroupBox("This machine")
        form = QFormLayout(machine)
        self.cpu_label = _label("CPU", wrap=True)
        self.ram_label = _label("Memory")
        self.gpu_label = _label("GPUs", wrap=True)
        self.backend_label = _label("Offload backend", wrap=True)
        form.addRow("CPU", self.cpu_label)
        form.addRow("Memory", self.ram_label)
        form.addRow("GPU", self.gpu_label)
        form.addRow("Offload", self.backend_label)
        self.hint_label = _label("How to use the GPU", wrap=True)
        self.hint_label.setObjectName("warning")
        self.hint_label.hide()

        live = QGroupBox("Loaded model")
        live_form = QFormLayout(live)
        self.live_label = _label("Loaded model memory", wrap=True)
        self.live_label.setText("No model loaded.")
        live_form.addRow(self.live_label)

        layout = QVBoxLayout(self)
        layout.addWidget(machine)
        layout.addWidget(self.hint_label)
        layout.addWidget(live)
        layout.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._on_poll_timer)

    # hardware probe ----------------------------------------------------------------------
    def probe(self) -> ThreadTask:
        from desktop.engine.hardware import probe_hardware

        worker = call_worker(probe_hardware)
        worker.signals.returned.connect(self._on_probed)
        worker.signals.errored.connect(self._on_probe_failed)
        return worker.start()

    def _on_probed(self, info: HardwareInfo) -> None:
        self.show_hardware(info)
        self.hardware_ready.emit(info)

    def _on_probe_failed(self, exc: BaseException) -> None:
        self.cpu_label.setText(f"Could not read this machine's hardware: {exc}")

    def show_hardware(self, info: HardwareInfo) -> None:
        self.hardware = info
        cpu = info.cpu
        features = ", ".join(cpu.llama_features[:6])
        self.cpu_label.setText(
            f"{cpu.model}\n{cpu.physical_cores} cores / {cpu.logical_cores} threads"
            + (f" · {features}" if features else "")
        )
        self.ram_label.setText(
            f"{format_bytes(info.ram_total_bytes)} total, "
            f"{format_bytes(info.ram_available_bytes)} available"
        )
        if info.gpus:
            self.gpu_label.setText(
                "\n".join(
                    f"{g.name} ({g.kind}): {format_bytes(g.total_bytes)}, "
                    f"{format_bytes(g.free_bytes)} free"
                    for g in info.gpus
                )
            )
        else:
            self.gpu_label.setText(info.gpu_note or "No GPU found.")
        offload = info.offload
        backends = ", ".join(offload.backends) or "CPU"
        usable = "GPU offload available" if offload.supports_gpu_offload else "CPU only"
        self.backend_label.setText(f"llama.cpp {offload.llama_cpp_version}: {backends} ({usable})")
        hint = info.reinstall_hint()
        self.hint_label.setVisible(bool(hint))
        if hint:
            gpu = info.gpus[0].name
            self.hint_label.setText(
                f"This computer has a {gpu}, but the installed llama.cpp was built without "
                "support for it, so models run on the CPU only. To use the GPU, close Quantdesk, "
                f"run this command in a terminal, then start Quantdesk again:\n\n{hint}"
            )

    # live memory of the loaded model ------------------------------------------------------
    def watch(self, stats_source: Callable[[], WorkerStats | None] | None) -> None:
        """Poll ``stats_source()`` (``InferenceWorker.stats``) on a timer; None stops."""
        self._stats_source = stats_source
        if stats_source is None:
            self._timer.stop()
            self.live_label.setText("No model loaded.")
        else:
            self._timer.start()
            self._on_poll_timer()

    def _on_poll_timer(self) -> None:
        if self._stats_source is None or (self._poll is not None and not self._poll.done):
            return
        self._poll = call_worker(self._stats_source)
        self._poll.signals.returned.connect(self._on_stats)
        self._poll.start()

    def _on_stats(self, stats: WorkerStats | None) -> None:
        if self._stats_source is None or stats is None:  # stopped watching, or no worker yet
            return
        if stats.pid is None or stats.ram_bytes is None:
            self.live_label.setText(f"Worker {stats.state.value}; no model in memory.")
            return
        vram = "" if stats.vram_bytes is None else f", VRAM {format_bytes(stats.vram_bytes)}"
        self.live_label.setText(
            f"{stats.state.value.capitalize()} · RAM {format_bytes(stats.ram_bytes)}{vram}"
        )
