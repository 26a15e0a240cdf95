"""Hugging Face hub access: search, repo listing, verified resumable downloads, tokens.

The modules are imported on demand (``from converter.hub.download import download_file``) so
that importing :mod:`converter` stays cheap and never touches the network.
"""
