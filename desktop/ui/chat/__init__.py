"""The chat screen: conversation list, transcript, composer and the worker session."""
