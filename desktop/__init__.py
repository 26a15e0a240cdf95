"""The Quantdesk desktop app. ``desktop.engine`` is headless; Qt lives in ``desktop.ui``."""
