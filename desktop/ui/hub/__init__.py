"""The Hugging Face hub in the app: search, repo pages, downloads, token, first-run card.

Only widgets live here; the plain-Python parts they drive (``remote_fit``, ``download_queue``,
``hub_source``) are in ``desktop.services``.
"""
