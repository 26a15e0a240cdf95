"""One module per ``quantdesk`` subcommand.

Each module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs, so ``quantdesk --help`` stays fast and
headless commands never load Qt.
"""

#: Subcommand name → module under ``desktop.commands``. Order is the order ``--help`` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("convert_command", "Convert a Hugging Face checkpoint to GGUF and quantize it."),
    "quantize": ("quantize_command", "Quantize a GGUF file to one or more levels."),
    "imatrix": (
        "imatrix_command",
        "Collect a model's importance matrix on a text, for calibrated quantization.",
    ),
    "levels": ("levels_command", "List the quantization levels with size and quality figures."),
    "hw": ("hw_command", "Show this machine's CPU, memory, GPUs and offload support."),
    "list": ("list_command", "List the models in the library, by the names commands take."),
    "rm": ("remove_command", "Delete models from the library."),
    "fit": ("fit_command", "Predict whether a GGUF model fits this machine's RAM and VRAM."),
    "chat": ("chat_command", "Chat with a GGUF model in the terminal."),
    "serve": ("serve_command", "Serve a GGUF model through an OpenAI-compatible local API."),
    "compare": (
        "compare_command",
        "Measure size, speed and quality of several quantization levels.",
    ),
    "search": ("search_command", "Search the Hugging Face hub for models."),
    "download": ("download_command", "Download a GGUF or a checkpoint from the Hugging Face hub."),
    "app": ("app_command", "Open the desktop app (the default with no command)."),
}
