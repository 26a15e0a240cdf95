"""Headless engine: hardware probe, memory fit, inference worker, measurements. Never imports Qt."""
