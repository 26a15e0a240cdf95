"""The Hugging Face hub in the app: search, repo pages, downloads, token, first-run card.

Only the widget modules import Qt; ``remote_fit``, ``download_queue`` and ``hub_source`` are
plain Python so they run in worker threads and in the wizard's headless source hook.
"""
