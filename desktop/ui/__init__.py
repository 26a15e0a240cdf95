"""Qt widgets. The only package that imports PySide6.

llama.cpp's shared libraries are loaded here, while the app starts: loading them (``dlopen``
through ctypes) holds Python's GIL for a few hundred milliseconds, which would freeze the
window if a worker thread (the hardware probe, a fit prediction) happened to load them first.
"""

import llama_cpp  # noqa: F401 - loaded for its side effect, see above
