"""The load-time overrides of llama.cpp's default parameters reach real fields or fail loudly."""

from __future__ import annotations

import pytest

from desktop.engine.llama_loading import _default_params_overridden


def test_an_override_sets_the_field_llama_cpp_reads() -> None:
    import llama_cpp.llama as llama_module

    with _default_params_overridden("llama_model_default_params", {"use_extra_bufts": False}):
        params = llama_module.llama_cpp.llama_model_default_params()
    assert params.use_extra_bufts is False
    assert llama_module.llama_cpp.llama_model_default_params().use_extra_bufts is True


def test_a_field_this_release_lacks_is_refused() -> None:
    """``use_mmap`` became ``load_mode``: set on the structure it would be silently ignored."""
    import llama_cpp.llama as llama_module

    with (
        _default_params_overridden("llama_model_default_params", {"use_mmap": False}),
        pytest.raises(AttributeError, match="no field 'use_mmap'"),
    ):
        llama_module.llama_cpp.llama_model_default_params()
