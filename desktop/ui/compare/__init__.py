"""Compare quantization levels: replies side by side, and the ladder chart."""
