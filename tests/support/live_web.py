"""Our web app served by a real uvicorn on a free loopback port (for fakes that call us back:
webhooks), in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from typing import Any

import uvicorn

from stationthis.platforms.web.app import create_app
from stationthis.workflows.app import App


def reserve_port() -> tuple[socket.socket, str]:
    """A bound socket and its URL (pass the socket to ``serve``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def serve(app: App, sock: socket.socket | None = None,
                hosted: Sequence[Any] = ()) -> AsyncIterator[str]:
    """Start ``app`` (its lifespan) behind uvicorn; yields the base URL."""
    if sock is None:
        sock, url = reserve_port()
    else:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(app, hosted=hosted), log_level="warning",
                                           lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        await task
        sock.close()
