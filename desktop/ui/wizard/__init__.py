"""The conversion wizard: source → check → levels → run → done."""
