"""Helpers shared by the tests: tiny models, a local hub, probes."""
