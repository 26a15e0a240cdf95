"""One place that decides how Quantdesk talks to the hub: endpoint, timeouts, offline, token.

``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, at import time, and its
shared HTTP client has no timeout at all, so an unreachable network hangs a call forever. Here
both variables are read at call time, and the shared client is given a short connect timeout and
a read timeout (which is also what turns a stalled download into a retry).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import httpx2
from huggingface_hub import HfApi, HfFileMetadata, constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.utils import build_hf_headers, set_client_factory
from huggingface_hub.utils._http import hf_request_event_hook

from converter.hub.hub_errors import HubOffline, offline_message

#: Seconds to wait for a TCP/TLS connection: long enough for a slow network, short enough
#: that "offline" is reported quickly.
CONNECT_TIMEOUT_S = 5.0
#: Seconds without a single byte before a request counts as stalled.
READ_TIMEOUT_S = 30.0

_configure_lock = threading.Lock()
_configured = False


@dataclass(frozen=True, slots=True)
class HubContext:
    """What every hub call needs: where the hub is and which token (if any) to send."""

    endpoint: str
    token: str | None

    @property
    def token_arg(self) -> str | bool:
        """``huggingface_hub``'s token argument; ``False`` stops it from guessing one."""
        return self.token if self.token else False

    def api(self) -> HfApi:
        return HfApi(endpoint=self.endpoint, token=self.token_arg)

    def pinned_file(
        self, repo_id: str, filename: str, revision: str | None
    ) -> tuple[HfFileMetadata, str]:
        """The file's metadata, and its URL pinned to the commit the hub resolved, so that
        every later request reads the same version even if the branch moves meanwhile."""
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=self.endpoint)
        meta = get_hf_file_metadata(
            url, token=self.token_arg, timeout=CONNECT_TIMEOUT_S, endpoint=self.endpoint
        )
        pinned = hf_hub_url(
            repo_id, filename, revision=meta.commit_hash or revision, endpoint=self.endpoint
        )
        return meta, pinned

    def headers(self) -> dict[str, str]:
        """Headers for a raw request: the hub's user agent, and the token when there is one."""
        return build_hf_headers(token=self.token_arg)

    def __repr__(self) -> str:  # never show the token, even in a debugger or a log
        return f"HubContext(endpoint={self.endpoint!r}, token={'set' if self.token else None})"


def hub_endpoint() -> str:
    """The hub's base URL, honouring ``HF_ENDPOINT`` as it is now (not at import time)."""
    return (os.environ.get("HF_ENDPOINT") or constants._HF_DEFAULT_ENDPOINT).rstrip("/")


def is_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return constants.is_offline_mode() or value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_context(token: str | None = None) -> HubContext:
    """Prepare a hub call: fail at once when offline, pick the token, set timeouts."""
    endpoint = hub_endpoint()
    if is_offline():
        raise HubOffline(offline_message(endpoint))
    _ensure_client_timeouts()
    if token is None:
        from converter.hub.token import load_token

        token = load_token()
    return HubContext(endpoint=endpoint, token=token or None)


def _client_with_timeouts() -> httpx2.Client:
    return httpx2.Client(
        event_hooks={"request": [hf_request_event_hook]},
        follow_redirects=True,
        timeout=httpx2.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
    )


def _ensure_client_timeouts() -> None:
    """Give ``huggingface_hub``'s shared client timeouts, once per process."""
    global _configured
    with _configure_lock:
        if not _configured:
            set_client_factory(_client_with_timeouts)
            _configured = True
