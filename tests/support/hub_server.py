"""A small local stand-in for the Hugging Face hub, so hub tests never touch the network.

It serves the routes ``huggingface_hub`` 's client calls, with the headers it reads:

* ``GET /api/models`` (search) and ``GET /api/models/{repo}[/revision/{rev}]`` (info; with
  ``?blobs=true`` the siblings carry sizes, git blob ids and LFS sha256s);
* ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``: small files are answered directly with their
  git blob id as ``ETag``; LFS files are redirected, like the real hub does, to a second server
  on another port (the "CDN") with ``X-Linked-Size``, ``X-Linked-Etag`` (the sha256) and
  ``X-Repo-Commit``. Byte ranges are honoured.
* errors carry the hub's ``X-Error-Code`` header (``RepoNotFound``, ``GatedRepo``,
  ``EntryNotFound``, ``RevisionNotFound``) that the client maps to its exception types.

Knobs: ``drop_once`` (cut the connection after N body bytes, once per file), ``stall_at`` (stop
sending at byte N without closing, every time), ``corrupt`` (flip a byte in what is served),
``claimed_sizes`` (announce a size the file does not have), ``chunk_delay_s`` (serve slowly),
gated repos and the tokens that may read them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

#: Files at least this big are stored as LFS files (the hub's own threshold is 10 MB; smaller
#: here so tests exercise the LFS path with tiny files). .gguf/.safetensors are always LFS.
LFS_THRESHOLD = 64 * 1024
SERVE_CHUNK = 16 * 1024


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, bytes]
    gated: bool = False
    tags: tuple[str, ...] = ()
    config: dict[str, Any] | None = None
    license: str | None = "apache-2.0"
    downloads: int = 0
    likes: int = 0
    safetensors_params: dict[str, int] | None = None
    sha: str = field(default_factory=lambda: secrets.token_hex(20))

    def is_lfs(self, name: str) -> bool:
        return name.endswith((".gguf", ".safetensors")) or len(self.files[name]) >= LFS_THRESHOLD


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class RequestRecord:
    method: str
    path: str
    range: str | None
    authorization: str | None


class FakeHub:
    """Start with :meth:`start`, point ``HF_ENDPOINT`` at :attr:`endpoint`, :meth:`stop` after."""

    def __init__(self, *repos: FakeRepo) -> None:
        self.repos: dict[str, FakeRepo] = {r.repo_id: r for r in repos}
        self.accepted_tokens: set[str] = set()
        self.drop_once: dict[str, int] = {}
        self.corrupt: set[str] = set()
        self.claimed_sizes: dict[str, int] = {}
        self.chunk_delay_s = 0.0
        self.stall_at: dict[str, int] = {}
        self.stopped = threading.Event()
        self.requests: list[RequestRecord] = []
        self.served: list[tuple[str, RequestRecord]] = []
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> FakeHub:
        for _ in range(2):  # the hub itself, and the "CDN" LFS downloads are redirected to
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
            server.daemon_threads = True
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            ).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        self.stopped.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def add(self, repo: FakeRepo) -> FakeRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def ranges_for(self, filename: str) -> list[str | None]:
        """The Range header (or None) of every GET that was served ``filename``'s bytes."""
        return [record.range for name, record in self.served if name == filename]

    # -- what is served -----------------------------------------------------------------------
    def info(self, repo: FakeRepo, blobs: bool) -> dict[str, Any]:
        siblings = []
        for name, data in sorted(repo.files.items()):
            sibling: dict[str, Any] = {"rfilename": name}
            if blobs:
                size = self.claimed_sizes.get(name, len(data))
                sibling.update(size=size, blobId=git_blob_sha1(data))
                if repo.is_lfs(name):
                    sha = hashlib.sha256(data).hexdigest()
                    sibling["lfs"] = {"size": size, "sha256": sha, "pointerSize": 134}
            siblings.append(sibling)
        info: dict[str, Any] = {
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "sha": repo.sha,
            "private": False,
            "gated": "manual" if repo.gated else False,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "tags": list(repo.tags),
            "pipeline_tag": "text-generation",
            "siblings": siblings,
            "cardData": {"license": repo.license} if repo.license else {},
        }
        if repo.config is not None:
            info["config"] = repo.config
        if repo.safetensors_params:
            total = sum(repo.safetensors_params.values())
            info["safetensors"] = {"parameters": repo.safetensors_params, "total": total}
        return info

    def served_bytes(self, name: str, data: bytes) -> bytes:
        if name in self.corrupt and data:
            middle = len(data) // 2
            return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        return data


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(_HubHandler):
        pass

    Handler.hub = hub
    return Handler


class _HubHandler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, *, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        self.record = RequestRecord(
            self.command, path, self.headers.get("Range"), self.headers.get("Authorization")
        )
        with self.hub._lock:
            self.hub.requests.append(self.record)
        parts = path.strip("/").split("/")
        if path == "/api/models":
            self._search(query)
        elif parts[:2] == ["api", "models"] and len(parts) >= 4:
            self._info(parts[2:], query)
        elif parts[0] == "cdn":
            self._cdn(parts[1:], head)
        elif len(parts) >= 5 and parts[2] == "resolve":
            self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), head)
        else:
            self._error(404, "RepoNotFound", "Not found")

    # -- API ----------------------------------------------------------------------------------
    def _search(self, query: dict[str, list[str]]) -> None:
        text = query.get("search", [""])[0].lower()
        limit = int(query.get("limit", ["1000"])[0])
        hits = [r for r in self.hub.repos.values() if text in r.repo_id.lower()]
        hits.sort(key=lambda r: -r.downloads)
        body = []
        for repo in hits[:limit]:
            item = self.hub.info(repo, blobs=False)
            del item["siblings"]
            body.append(item)
        self._json(body)

    def _info(self, parts: list[str], query: dict[str, list[str]]) -> None:
        repo = self.hub.repos.get("/".join(parts[:2]))
        if repo is None:
            self._error(401, "RepoNotFound", "Repository not found")
            return
        if len(parts) >= 4 and parts[2] == "revision" and parts[3] not in ("main", repo.sha):
            self._error(404, "RevisionNotFound", "Invalid rev id")
            return
        self._json(self.hub.info(repo, blobs=query.get("blobs", [""])[0].lower() == "true"))

    # -- files --------------------------------------------------------------------------------
    def _resolve(self, repo_id: str, revision: str, name: str, head: bool) -> None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(401, "RepoNotFound", "Repository not found")
            return
        if repo.gated:
            auth = self.headers.get("Authorization") or ""
            token = auth.removeprefix("Bearer ").strip()
            if token not in self.hub.accepted_tokens:
                code = 403 if token else 401
                message = f"Access to model {repo_id} is restricted; you are not authorized."
                self._error(code, "GatedRepo", message)
                return
        if revision not in ("main", repo.sha):
            self._error(404, "RevisionNotFound", "Invalid rev id")
            return
        if name not in repo.files:
            self._error(404, "EntryNotFound", "Entry not found")
            return
        data = repo.files[name]
        size = self.hub.claimed_sizes.get(name, len(data))
        headers = {"X-Repo-Commit": repo.sha}
        if repo.is_lfs(name):
            sha = hashlib.sha256(data).hexdigest()
            headers |= {
                "X-Linked-Size": str(size),
                "X-Linked-Etag": f'"{sha}"',
                "ETag": f'"{git_blob_sha1(data)}"',
                "Location": f"{self.hub.cdn}/cdn/{repo_id}/{sha}/{name}",
                "Content-Length": "0",
            }
            self._reply(302, headers, b"")
            return
        headers["ETag"] = f'"{git_blob_sha1(data)}"'
        self._serve(name, data, size, headers, head)

    def _cdn(self, parts: list[str], head: bool) -> None:
        repo = self.hub.repos.get("/".join(parts[:2]))
        name = "/".join(parts[3:])
        if repo is None or name not in repo.files:
            self._reply(404, {"Content-Length": "0"}, b"")
            return
        data = repo.files[name]
        size = self.hub.claimed_sizes.get(name, len(data))
        self._serve(name, data, size, {"ETag": f'"{parts[2]}"'}, head)

    def _serve(
        self, name: str, data: bytes, size: int, headers: dict[str, str], head: bool
    ) -> None:
        body = self.hub.served_bytes(name, data)
        start, end, status = 0, len(body) - 1, 200
        requested = self.headers.get("Range")
        if requested and requested.startswith("bytes="):
            first, _, last = requested[len("bytes=") :].partition("-")
            start = int(first)
            end = int(last) if last else len(body) - 1
            end = min(end, len(body) - 1)
            if start >= len(body):
                self._reply(
                    416, {"Content-Range": f"bytes */{len(body)}", "Content-Length": "0"}, b""
                )
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
        length = end - start + 1 if not head or status == 206 else size
        headers |= {"Content-Length": str(length), "Accept-Ranges": "bytes"}
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if head:
            return
        with self.hub._lock:
            self.hub.served.append((name, self.record))
        try:
            self._send_body(name, body[start : end + 1], start)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout, pause, cancel)

    def _send_body(self, name: str, payload: bytes, offset: int) -> None:
        with self.hub._lock:
            drop_at = self.hub.drop_once.pop(name, None)
        stall_at = self.hub.stall_at.get(name)
        sent = 0
        while sent < len(payload):
            if stall_at is not None and offset + sent >= stall_at:
                self.wfile.flush()
                self.hub.stopped.wait(30)  # hold the connection open, sending nothing
                self.close_connection = True
                return
            if drop_at is not None and offset + sent >= drop_at:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # the network "drops"
                self.close_connection = True
                return
            piece = payload[sent : sent + SERVE_CHUNK]
            for limit in (drop_at, stall_at):
                if limit is not None:
                    piece = piece[: max(1, limit - offset - sent)]
            self.wfile.write(piece)
            sent += len(piece)
            if self.hub.chunk_delay_s:
                self.wfile.flush()
                time.sleep(self.hub.chunk_delay_s)

    # -- helpers ------------------------------------------------------------------------------
    def _json(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self._reply(
            200, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body
        )

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "X-Error-Code": code,
            "X-Error-Message": message,
        }
        self._reply(status, headers, body if self.command != "HEAD" else b"")

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(body)


def serve(monkeypatch: Any, *repos: FakeRepo) -> FakeHub:
    """Start a hub for one test and point the client at it (stop it with ``hub.stop()``)."""
    hub = FakeHub(*repos).start()
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return hub
