"""Load a model with settings of its own, and remember them for that file (LM Studio's
per-model defaults): context length, KV cache, GPU layers, threads, flash attention, how
many replies are written at once, and whether the file is mapped or read into memory."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from desktop.services.app_settings import KV_TYPES
from desktop.services.model_load_defaults import (
    MAX_CHAT_PARALLEL,
    MAX_CTX_TOKENS,
    ModelLoadDefaults,
)
from desktop.ui.dialog_forms import finish_form

#: GPU placement choices, in the order shown; a count comes from the spin box.
GPU_AUTOMATIC, GPU_ALL, GPU_COUNT = range(3)
#: How the weights are loaded, in the order shown, and the choice each stands for.
WEIGHTS_CHOICES: tuple[tuple[str, bool | None], ...] = (
    ("Automatic", None),
    ("Mapped from the file", False),
    ("Read into memory", True),
)


class LoadSettingsDialog(QDialog):
    def __init__(
        self,
        model_name: str,
        defaults: ModelLoadDefaults,
        *,
        remembered: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Load {model_name}")
        self.setAccessibleName("Load settings")
        self.setMinimumWidth(480)
        self.context = QSpinBox()
        self.context.setAccessibleName("Context length")
        self.context.setRange(0, MAX_CTX_TOKENS)
        self.context.setSingleStep(1024)
        self.context.setSpecialValueText("as trained")
        self.context.setValue(defaults.ctx_tokens)
        self.kv_type = QComboBox()
        self.kv_type.setAccessibleName("KV cache type")
        self.kv_type.addItems(list(KV_TYPES))
        self.kv_type.setCurrentText(defaults.kv_type)
        self.gpu = QComboBox()
        self.gpu.setAccessibleName("GPU offload")
        self.gpu.addItems(["Automatic (fit to memory)", "All layers", "This many layers:"])
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setAccessibleName("GPU layers")
        self.gpu_layers.setRange(0, 1024)
        if defaults.gpu_layers is None:
            self.gpu.setCurrentIndex(GPU_AUTOMATIC)
        elif defaults.gpu_layers == -1:
            self.gpu.setCurrentIndex(GPU_ALL)
        else:
            self.gpu.setCurrentIndex(GPU_COUNT)
            self.gpu_layers.setValue(defaults.gpu_layers)
        self.gpu.currentIndexChanged.connect(self._update_layers)
        self._update_layers()
        self.threads = QSpinBox()
        self.threads.setAccessibleName("CPU threads")
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(defaults.threads)
        self.flash_attention = QCheckBox("Use flash attention")
        self.flash_attention.setAccessibleName("Flash attention")
        self.flash_attention.setChecked(defaults.flash_attention)
        self.kv_type.currentTextChanged.connect(self._update_flash_attention)
        self._update_flash_attention()
        self.parallel = QSpinBox()
        self.parallel.setAccessibleName("Replies at once")
        self.parallel.setRange(1, MAX_CHAT_PARALLEL)
        self.parallel.setValue(defaults.parallel)
        self.weights = QComboBox()
        self.weights.setAccessibleName("Model weights")
        self.weights.addItems([label for label, _ in WEIGHTS_CHOICES])
        self.weights.setCurrentIndex(
            [choice for _, choice in WEIGHTS_CHOICES].index(defaults.read_weights_in)
        )
        self.remember = QCheckBox("Use these settings whenever this model is loaded")
        self.remember.setAccessibleName("Remember for this model")
        self.remember.setChecked(True)

        form = QFormLayout(self)
        form.addRow("Context length", self.context)
        form.addRow("KV cache", self.kv_type)
        form.addRow("GPU offload", self.gpu)
        form.addRow("GPU layers", self.gpu_layers)
        form.addRow("CPU threads", self.threads)
        form.addRow("Attention", self.flash_attention)
        form.addRow("Replies at once", self.parallel)
        form.addRow("Model weights", self.weights)
        form.addRow("", self.remember)
        finish_form(self, form, (
            (self.context, "Tokens the model can see at once: prompt, conversation and reply. "
             "Longer contexts need more memory for the KV cache. \"As trained\" uses the "
             "model's own length."),
            (self.kv_type, "How the attention cache is stored: f16 is exact; q8_0 halves its "
             "memory with hardly a difference; q4_0 quarters it and can lower quality."),
            (self.gpu, "Which layers run on the GPU: automatic puts as many as fit in its "
             "memory; the rest run on the CPU. Without a usable GPU every layer runs on the CPU."),
            (self.gpu_layers, "How many of the model's layers run on the GPU (0: none)."),
            (self.threads, "CPU threads llama.cpp uses. Automatic (0): one per physical "
             "core, and one for writing replies when the whole model is on the GPU."),
            (self.flash_attention, "On (the default, as in llama.cpp): faster on the CPU and "
             "the GPU and less memory for long contexts. Off can change a reply where two "
             "words are nearly equally likely. A q8_0 or q4_0 KV cache needs it on."),
            (self.parallel, "How many replies the model writes at the same time: 2 lets both "
             "conversations of the split view answer together instead of taking turns. Each "
             "needs its own context's worth of KV cache memory, and on the CPU each runs "
             "slower than one alone (they share the cores)."),
            (self.weights, "Automatic: read into memory where that is faster (the CPU on "
             "Linux, in huge pages), else mapped from the file as llama.cpp does. Read into "
             "memory with layers split between the GPU and the CPU: long prompts about three "
             "times as fast, replies a few percent slower, loading slower. A file too big for "
             "the free memory stays mapped."),
            (self.remember, "Ticked: the next load of this file uses these settings, whatever "
             "the app-wide defaults say. Unticked: only this load uses them, and settings "
             "remembered before are forgotten."),
        ))  # fmt: skip
        buttons = self.findChild(QDialogButtonBox)
        load = buttons.button(QDialogButtonBox.StandardButton.Ok) if buttons else None
        if load is not None:
            load.setText("Load")
        if remembered:
            self.setToolTip("These are the settings remembered for this model.")

    def _update_flash_attention(self) -> None:
        """A quantized KV cache needs flash attention: ticked and fixed while one is chosen."""
        kv_type = self.kv_type.currentText()
        quantized = kv_type != "f16"
        if quantized:
            self.flash_attention.setChecked(True)
        self.flash_attention.setEnabled(not quantized)
        needed = f" (the {kv_type} KV cache needs it)" if quantized else ""
        self.flash_attention.setText(f"Use flash attention{needed}")

    def _update_layers(self) -> None:
        self.gpu_layers.setEnabled(self.gpu.currentIndex() == GPU_COUNT)

    def values(self) -> ModelLoadDefaults:
        gpu_layers = {GPU_AUTOMATIC: None, GPU_ALL: -1}.get(
            self.gpu.currentIndex(), self.gpu_layers.value()
        )
        return ModelLoadDefaults(
            ctx_tokens=self.context.value(),
            kv_type=self.kv_type.currentText(),
            gpu_layers=gpu_layers,
            threads=self.threads.value(),
            flash_attention=self.flash_attention.isChecked(),
            parallel=self.parallel.value(),
            read_weights_in=WEIGHTS_CHOICES[self.weights.currentIndex()][1],
        )
