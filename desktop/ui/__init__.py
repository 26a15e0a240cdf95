"""Qt widgets. The only package that imports PySide6.

llama.cpp's shared libraries are not loaded when this package is imported: the main window
loads them in a worker right after its first frame (:mod:`desktop.ui.first_frame` says why).
"""
