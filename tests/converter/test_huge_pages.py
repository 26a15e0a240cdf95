"""Huge pages for the children's large buffers: the tunable they start with, and the
kernel's offer read from its mode file."""

from __future__ import annotations

from pathlib import Path

import pytest

from converter import huge_pages
from converter.huge_pages import huge_pages_offered, with_huge_page_tunable


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "glibc.malloc.hugetlb=1"),
        ("glibc.malloc.arena_max=2", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"),
        ("glibc.malloc.hugetlb=0", "glibc.malloc.hugetlb=0"),  # the user's own choice stays
        ("glibc.malloc.hugetlb=1", "glibc.malloc.hugetlb=1"),
    ],
)
def test_the_tunable_is_added_once_beside_the_users_own(before: str, after: str) -> None:
    assert with_huge_page_tunable(before) == after


@pytest.mark.parametrize(
    ("modes", "offered"),
    [
        ("always [madvise] never\n", True),
        ("[always] madvise never\n", True),
        ("always madvise [never]\n", False),
    ],
)
def test_the_kernels_mode_decides_whether_huge_pages_are_offered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modes: str, offered: bool
) -> None:
    monkeypatch.setattr(huge_pages.sys, "platform", "linux")
    mode_file = tmp_path / "enabled"
    mode_file.write_text(modes)
    assert huge_pages_offered(mode_file) is offered
    assert huge_pages_offered(tmp_path / "missing") is False


def test_children_are_asked_only_where_the_kernel_offers_huge_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    monkeypatch.setattr(huge_pages, "_glibc", lambda: True)
    monkeypatch.setattr(huge_pages, "huge_pages_offered", lambda: False)
    huge_pages.ask_huge_pages_for_children()
    assert huge_pages.os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2"
    monkeypatch.setattr(huge_pages, "huge_pages_offered", lambda: True)
    huge_pages.ask_huge_pages_for_children()
    huge_pages.ask_huge_pages_for_children()
    assert (
        huge_pages.os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    )


def test_a_users_own_hugetlb_zero_means_no_huge_pages_for_the_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(huge_pages, "huge_pages_offered", lambda: True)
    monkeypatch.setattr(huge_pages, "_glibc", lambda: True)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0")
    assert huge_pages.children_get_huge_pages() is False
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    assert huge_pages.children_get_huge_pages() is True
