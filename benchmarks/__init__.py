"""Benchmarks: each module runs as ``python -m benchmarks.NAME``.

Importing the package loads llama.cpp's shared libraries first. Every child process a
benchmark starts (``spawn``) imports the benchmark's own module again before anything else,
and on a CUDA machine a process that had imported numpy before llama.cpp's libraries
segfaulted when it loaded a model (see ``converter/child_process.py``): the
importance-matrix benchmark's child died that way on an H200 while the same collection ran
in a process that loaded llama.cpp first.
"""

from converter.child_process import preload_llama_libraries

preload_llama_libraries()
