"""Application services: what the app does, without Qt, above the engine.

The model library, conversations, settings, the conversion pipeline that the wizard and the
CLI share, ladder data, downloads and the fit verdict in words. ``desktop.ui`` and
``desktop.commands`` call these; nothing here imports either of them.
"""
