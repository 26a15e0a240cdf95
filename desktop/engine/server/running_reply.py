"""One reply's choices generating in threads, read from the event loop: what every front end
(OpenAI's chat and Responses routes, Ollama's, Anthropic's) streams or gathers."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any

from starlette.requests import Request

from desktop.engine.server.model_service import ModelService, TextPiece
from desktop.engine.server.parsing import ReplyRequest


class RunningReply:
    """The choices of one reply generating in threads (one each), read from the event loop
    as ``(choice index, item)``: text pieces, then either the choice's :class:`ReplyEnd` or
    the exception that ended it."""

    def __init__(
        self,
        service: ModelService,
        executor: Executor,
        http: Request,
        requests: list[ReplyRequest],
    ) -> None:
        loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        self.gone = False
        put = self._queue.put_nowait

        def work(index: int, request: ReplyRequest) -> None:
            def send(piece: TextPiece) -> None:
                loop.call_soon_threadsafe(put, (index, piece))

            try:
                outcome: object = service.reply(request, send=send, client_gone=lambda: self.gone)
            except BaseException as exc:
                outcome = exc
            loop.call_soon_threadsafe(put, (index, outcome))

        self._futures = [
            loop.run_in_executor(executor, work, index, request)
            for index, request in enumerate(requests)
        ]
        self._watcher = asyncio.create_task(self._watch_disconnect(http))

    async def _watch_disconnect(self, http: Request) -> None:
        while True:
            message = await http.receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                return

    async def next(self) -> tuple[int, Any]:
        return await self._queue.get()

    async def finish(self) -> None:
        """The client has its answer or has gone: stop the choices that still run."""
        self.gone = True
        self._watcher.cancel()
        await asyncio.shield(asyncio.gather(*self._futures))


class FrontEnd:
    """The route handlers of one API's shape, on the service and reply threads all share."""

    def __init__(self, service: ModelService, executor: Executor) -> None:
        self.service = service
        self.executor = executor

    async def start_reply(
        self, http: Request, requests: list[ReplyRequest]
    ) -> tuple[RunningReply, tuple[int, Any]]:
        """Start ``requests`` and wait for the first item. What fails before any text is
        raised, once the choices have stopped, for a plain error answer."""
        run = RunningReply(self.service, self.executor, http, requests)
        first = await run.next()
        if isinstance(first[1], BaseException):
            await run.finish()
            raise first[1]
        return run, first
