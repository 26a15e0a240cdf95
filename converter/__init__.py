"""Headless Hugging Face → GGUF conversion and quantization. Never imports Qt."""
