"""Reading a request: its body (bounded in size and in time, so a slow or huge upload holds
up nothing), and the model it names."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request

from desktop.engine.server.api_errors import ApiError, ClientGone

#: Larger bodies are refused before being read (a long conversation is well under this).
MAX_BODY_BYTES = 16 * 1024 * 1024
#: A client has this long to send its whole request body.
BODY_TIMEOUT_SECONDS = 30.0


def model_name(model: object) -> str | None:
    """The model a request names: one the service knows is loaded for it; any other name
    means the loaded model (clients send their own defaults)."""
    if model is not None and not isinstance(model, str):
        raise ApiError(400, "'model' must be a string.", code="invalid_type", param="model")
    return model


async def read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ApiError(413, "The request body is too large.", code="body_too_large")
    chunks, size = [], 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ApiError(413, "The request body is too large.", code="body_too_large")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), BODY_TIMEOUT_SECONDS)
    except TimeoutError:
        raise ApiError(408, "The request body took too long to arrive.", code="timeout") from None
    except ClientDisconnect:
        raise ClientGone from None
    return b"".join(chunks)
