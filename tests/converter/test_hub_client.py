"""Search, repo listing, remote GGUF headers and error messages against a local fake hub."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gguf import GGUFReader

from converter.gguf_header import GGUFHeaderError
from converter.hub.hub_client import repo_details, search_models
from converter.hub.hub_errors import HubNotFound, HubOffline
from converter.hub.remote_gguf import read_remote_gguf_header
from converter.hub.repo_kind import RepoKind
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf
from tests.support.hub_server import FakeHub, FakeRepo, serve

LLAMA_CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gguf")
    return write_tiny_gguf(folder / "tiny-F16.gguf", TinyModelShape(n_vocab=3000))


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tiny_gguf: Path) -> Iterator[FakeHub]:
    gguf_bytes = tiny_gguf.read_bytes()
    repos = (
        FakeRepo(
            "someone/Tiny-Llama-GGUF",
            {
                "tiny-Q4_K_M.gguf": gguf_bytes[:5000],
                "tiny-Q8_0.gguf": gguf_bytes[:9000],
                "big-Q2_K-00001-of-00002.gguf": b"a" * 100,
                "big-Q2_K-00002-of-00002.gguf": b"b" * 50,
                "mmproj-tiny-f16.gguf": b"c" * 10,
                "tiny-F16.gguf": gguf_bytes,
                "README.md": b"hi",
            },
            tags=("gguf", "llama", "license:llama3.2"),
            license=None,
            downloads=900,
            likes=12,
        ),
        FakeRepo(
            "someone/tiny-llama",
            {
                "config.json": b"{}",
                "model.safetensors": b"\0" * 4096,
                "tokenizer.json": b"{}",
                "pytorch_model.bin": b"\0" * 100,
                "onnx/model.onnx": b"\0" * 10,
                "README.md": b"hi",
            },
            config=LLAMA_CONFIG,
            downloads=500,
            safetensors_params={"BF16": 1000, "F32": 10},
        ),
        FakeRepo(
            "someone/tiny-gpt2",
            {"config.json": b"{}", "model.safetensors": b"\0" * 10},
            config={"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"},
            downloads=100,
        ),
        FakeRepo("someone/other", {"pytorch_model.bin": b"1"}, downloads=1),
    )
    hub = serve(monkeypatch, *repos)
    yield hub
    hub.stop()


def test_search_describes_each_hit(hub: FakeHub) -> None:
    hits = search_models("tiny", limit=10)
    assert [h.repo_id for h in hits] == [
        "someone/Tiny-Llama-GGUF",
        "someone/tiny-llama",
        "someone/tiny-gpt2",
    ]
    gguf, llama, gpt2 = hits
    assert gguf.is_gguf and gguf.supported and gguf.license == "llama3.2"
    assert (gguf.downloads, gguf.likes) == (900, 12)
    assert llama.model_type == "llama" and llama.supported and not llama.is_gguf
    assert llama.size_bytes == 1000 * 2 + 10 * 4  # weights, from the per-dtype counts
    assert gpt2.model_type == "gpt2" and not gpt2.supported
    assert search_models("tiny", limit=1)[0].repo_id == "someone/Tiny-Llama-GGUF"
    assert search_models("no-such-thing") == []


def test_gguf_repo_lists_levels_with_sizes_and_checksums(hub: FakeHub) -> None:
    details = repo_details("someone/Tiny-Llama-GGUF")
    assert details.kind is RepoKind.GGUF
    assert details.revision == hub.repos["someone/Tiny-Llama-GGUF"].sha
    by_level = {c.level: c for c in details.gguf}
    assert set(by_level) == {"Q4_K_M", "Q8_0", "Q2_K", "F16"}  # mmproj is not a model
    assert by_level["Q2_K"].files == (
        "big-Q2_K-00001-of-00002.gguf",
        "big-Q2_K-00002-of-00002.gguf",
    )
    assert by_level["Q2_K"].size_bytes == 150
    assert by_level["Q8_0"].size_bytes == 9000
    f16 = details.file("tiny-F16.gguf")
    repo_bytes = hub.repos["someone/Tiny-Llama-GGUF"].files["tiny-F16.gguf"]
    assert f16.sha256 == hashlib.sha256(repo_bytes).hexdigest()


def test_checkpoint_repo_lists_only_what_conversion_needs(hub: FakeHub) -> None:
    details = repo_details("someone/tiny-llama")
    assert details.kind is RepoKind.CHECKPOINT and details.supported
    assert details.checkpoint == ("config.json", "model.safetensors", "tokenizer.json")
    assert details.checkpoint_size == 2 + 4096 + 2
    assert repo_details("someone/tiny-gpt2").supported is False
    assert repo_details("someone/other").kind is RepoKind.UNSUPPORTED


def test_remote_header_matches_gguf_py_without_downloading_the_file(
    hub: FakeHub, tiny_gguf: Path
) -> None:
    header = read_remote_gguf_header("someone/Tiny-Llama-GGUF", "tiny-F16.gguf", first_bytes=4096)
    reference = GGUFReader(tiny_gguf)
    assert [t.name for t in header.tensors] == [t.name for t in reference.tensors]
    assert [t.shape for t in header.tensors] == [
        tuple(int(d) for d in t.shape) for t in reference.tensors
    ]
    assert [t.type_name for t in header.tensors] == [t.tensor_type.name for t in reference.tensors]
    assert header.architecture == "llama"
    assert header.metadata["llama.block_count"] == 2
    assert header.file_bytes == tiny_gguf.stat().st_size
    assert header.header_bytes == reference.data_offset
    fetched = [r for _, r in hub.served if r.range]
    assert len(fetched) >= 2  # the range grew: the vocabulary does not fit in 4 KiB
    last_end = int(fetched[-1].range.rsplit("-", 1)[1]) + 1
    assert last_end < tiny_gguf.stat().st_size / 2


def test_remote_header_of_a_damaged_file_is_a_clear_error(hub: FakeHub) -> None:
    with pytest.raises(GGUFHeaderError, match="incomplete or damaged"):
        read_remote_gguf_header("someone/Tiny-Llama-GGUF", "tiny-Q4_K_M.gguf", first_bytes=1024)
    with pytest.raises(GGUFHeaderError, match="not a GGUF file"):
        read_remote_gguf_header("someone/Tiny-Llama-GGUF", "README.md")


def test_missing_repo_and_file_say_so(hub: FakeHub) -> None:
    with pytest.raises(HubNotFound, match="No model named someone/nope"):
        repo_details("someone/nope")
    with pytest.raises(HubNotFound, match="no such revision"):
        repo_details("someone/tiny-llama", revision="v9")
    with pytest.raises(HubNotFound, match="not a valid model name"):
        repo_details("bad//name")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_hub_fails_fast_with_offline_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for call in (lambda: search_models("qwen"), lambda: repo_details("Qwen/Qwen2.5-0.5B")):
        started = time.monotonic()
        with pytest.raises(HubOffline, match="offline"):
            call()
        assert time.monotonic() - started < 5


def test_offline_mode_is_respected_without_any_request(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub.requests)
    with pytest.raises(HubOffline, match="HF_HUB_OFFLINE"):
        search_models("tiny")
    assert len(hub.requests) == before
