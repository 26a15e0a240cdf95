"""Imported for its effect: load llama.cpp's libraries before numpy or torch.

Spawned children re-import the benchmark's main module, and llama.cpp's CUDA build segfaulted
on model load in a process that had imported numpy first (see ``converter/child.py``).
"""

from converter.child_process import preload_llama_libraries

preload_llama_libraries()
