"""Hub failures as sentences a person can act on.

``huggingface_hub`` and ``httpx2`` raise many exception types whose text is meant for
developers (request ids, URLs). :func:`hub_errors` translates them at the boundary of every
hub call into the :class:`~converter.errors.QuantdeskError` family. Messages never include a
token: they are built from the repo id and the status code only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx2
from huggingface_hub.errors import (
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from converter.errors import QuantdeskError


class HubError(QuantdeskError):
    """The hub could not be reached or refused the request."""


class HubOffline(HubError):
    """No connection to the hub (no network, offline mode, server unreachable)."""


class HubAccessDenied(HubError):
    """The repo is gated or private and the token (if any) does not grant access."""


class HubNotFound(HubError):
    """The repo, revision or file does not exist (or is private)."""


class DownloadCorrupted(HubError):
    """The downloaded bytes do not match the size or checksum the hub announced."""


class DownloadPaused(QuantdeskError):
    """The user paused a download; its partial file is kept so a new call resumes it."""


class UnsupportedRepo(HubError):
    """The repo holds neither GGUF files nor a safetensors checkpoint."""


def offline_message(endpoint: str) -> str:
    return (
        f"Cannot reach the Hugging Face hub ({endpoint}): you seem to be offline. "
        "Check the network connection (or unset HF_HUB_OFFLINE) and try again."
    )


def _gated_message(repo_id: str, with_token: bool, endpoint: str) -> str:
    """Where to accept the licence (on the configured hub) and how to hand Quantdesk a token:
    the app has a token field, the command line reads ``HF_TOKEN``."""
    page = f"{endpoint.rstrip('/')}/{repo_id}"
    if with_token:
        return (
            f"{repo_id} is a gated model and your token has no access to it yet. Open {page}, "
            "accept the licence with the account the token belongs to, then try again."
        )
    return (
        f"{repo_id} is a gated model: open {page}, log in and accept its licence, then give "
        "Quantdesk a Hugging Face access token (made under Settings → Access Tokens on the "
        "hub): in the app under Settings, on the command line in the HF_TOKEN environment "
        "variable."
    )


@contextlib.contextmanager
def hub_errors(repo_id: str, *, endpoint: str, with_token: bool, what: str = "") -> Iterator[None]:
    """Translate hub and network exceptions raised inside the block into :class:`HubError`."""
    subject = f"{repo_id}/{what}" if what else repo_id
    try:
        yield
    except QuantdeskError:
        raise
    except (OfflineModeIsEnabled, httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
        raise HubOffline(offline_message(endpoint)) from exc
    except httpx2.TimeoutException as exc:
        raise HubOffline(
            f"The Hugging Face hub ({endpoint}) stopped answering while fetching {subject}. "
            "Check the network connection and try again."
        ) from exc
    except httpx2.TransportError as exc:
        raise HubOffline(
            f"The connection to the Hugging Face hub broke while fetching {subject}. "
            "Check the network connection and try again."
        ) from exc
    except GatedRepoError:
        raise HubAccessDenied(_gated_message(repo_id, with_token, endpoint)) from None
    except DisabledRepoError:
        raise HubNotFound(f"{repo_id} has been disabled by its owner or the hub.") from None
    except RevisionNotFoundError:
        raise HubNotFound(f"{repo_id} has no such revision (branch, tag or commit).") from None
    except RemoteEntryNotFoundError:
        raise HubNotFound(f"{repo_id} has no file named {what or 'like that'}.") from None
    except RepositoryNotFoundError:
        hint = (
            "If it is private, check that your token belongs to an account that can see it."
            if with_token
            else "If it is private or gated, enter a Hugging Face access token first."
        )
        raise HubNotFound(
            f"No model named {repo_id} on the hub; check the spelling. {hint}"
        ) from None
    except HFValidationError:
        raise HubNotFound(
            f"{repo_id!r} is not a valid model name: use the form ORGANISATION/NAME."
        ) from None
    except HfHubHTTPError as exc:
        raise _from_status(exc, repo_id, subject, endpoint, with_token) from None


def _from_status(
    exc: HfHubHTTPError, repo_id: str, subject: str, endpoint: str, with_token: bool
) -> HubError:
    status = exc.response.status_code if exc.response is not None else 0
    if status == 401:
        return HubAccessDenied(
            "The hub rejected the access token: it may be mistyped or revoked. "
            "Enter a valid token (Settings → Access Tokens on the hub)."
            if with_token
            else f"{repo_id} needs a Hugging Face access token: enter one and try again."
        )
    if status == 403:
        return HubAccessDenied(_gated_message(repo_id, with_token, endpoint))
    if status == 429:
        return HubError("The Hugging Face hub is rate-limiting requests; wait a minute and retry.")
    if status >= 500:
        return HubError(
            f"The Hugging Face hub ({endpoint}) had a server error ({status}) while fetching "
            f"{subject}; try again in a few minutes."
        )
    return HubError(f"The Hugging Face hub refused the request for {subject} (HTTP {status}).")
