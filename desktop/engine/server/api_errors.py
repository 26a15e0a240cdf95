"""The one error type the HTTP layer answers with, shaped like OpenAI's error objects.

Clients written for the OpenAI API read ``error.message`` and branch on the status code, so
every refusal carries both; the message says what was wrong and how to fix the request.
"""

from __future__ import annotations

from converter.errors import QuantdeskError


class ApiError(QuantdeskError):
    """A request the server answers with an error status instead of a completion."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param

    def body(self) -> dict[str, object]:
        """The JSON body: ``{"error": {"message", "type", "param", "code"}}`` as OpenAI sends
        it (``param`` names the request field at fault, or is null)."""
        error = {"message": self.message, "type": self.kind, "param": self.param}
        return {"error": {**error, "code": self.code}}


class ClientGone(Exception):
    """The client closed its connection while its reply was being generated."""


def bad_request(message: str, code: str = "invalid_value", param: str | None = None) -> ApiError:
    return ApiError(400, message, code=code, param=param)


def not_found(message: str, code: str = "not_found") -> ApiError:
    return ApiError(404, message, code=code)


def unavailable(message: str, code: str | None = None) -> ApiError:
    """503: the model is loading, reloading after a crash, or the server is stopping."""
    return ApiError(503, message, kind="server_error", code=code)


def as_api_error(exc: BaseException) -> ApiError:
    """What ended a reply, as the error a client is told (mid-stream too)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ClientGone):
        return ApiError(499, "The client closed the connection.", code="client_gone")
    return ApiError(500, f"Internal error: {exc!r}", kind="server_error", code=None)
