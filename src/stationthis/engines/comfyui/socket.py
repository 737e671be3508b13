"""One websocket per ComfyUI server, shared by every prompt we run there.

The socket is lossy by nature: ComfyUI does not buffer frames for a disconnected client. So
the listener reconnects on its own, and tells every subscriber ``DROPPED`` when the line was
down — the subscriber then asks ``/history`` what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect

log = logging.getLogger(__name__)

DROPPED = "dropped"


@dataclass(frozen=True)
class Frame:
    type: str
    data: dict[str, Any]
    image: bytes | None = None  # binary preview frames


class ServerSocket:
    def __init__(self, base_url: str, client_id: str) -> None:
        scheme = "wss" if base_url.startswith("https") else "ws"
        self.url = f"{scheme}://{base_url.split('://', 1)[1].rstrip('/')}/ws?clientId={client_id}"
        self.connected = asyncio.Event()
        self.queue_remaining = 0
        self._subscribers: dict[str, asyncio.Queue[Frame]] = {}
        self._running_prompt: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._ws: Any = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=f"comfyui-ws {self.url}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected.clear()

    async def wait_connected(self, timeout: float) -> bool:
        self.start()
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def drop(self) -> None:
        """Cut the line abruptly (as a network fault would); the loop reconnects."""
        if self._ws is not None:
            self._ws.transport.abort()

    def subscribe(self, prompt_id: str) -> asyncio.Queue[Frame]:
        return self._subscribers.setdefault(prompt_id, asyncio.Queue())

    def unsubscribe(self, prompt_id: str) -> None:
        self._subscribers.pop(prompt_id, None)

    async def _loop(self) -> None:
        delay = 0.1
        while True:
            try:
                async with connect(self.url, max_size=64 * 1024 * 1024, open_timeout=5) as ws:
                    self._ws = ws
                    self.connected.set()
                    delay = 0.1
                    async for message in ws:
                        self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, reset, closed: all mean "reconnect"
                log.debug("websocket %s: %s", self.url, exc)
            if self.connected.is_set():
                self.connected.clear()
                for queue in self._subscribers.values():
                    queue.put_nowait(Frame(DROPPED, {}))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)

    def _dispatch(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self._dispatch_binary(message)
            return
        try:
            frame = json.loads(message)
            kind, data = str(frame["type"]), dict(frame.get("data") or {})
        except (ValueError, KeyError, TypeError):
            return
        if kind == "status":
            info = data.get("status", {}).get("exec_info", {})
            self.queue_remaining = int(info.get("queue_remaining", 0) or 0)
            return
        prompt_id = data.get("prompt_id")
        if kind == "execution_start":
            self._running_prompt = prompt_id
        if prompt_id is None:
            return
        queue = self._subscribers.get(str(prompt_id))
        if queue is not None:
            queue.put_nowait(Frame(kind, data))

    def _dispatch_binary(self, message: bytes) -> None:
        if len(message) < 8:
            return
        (event_type,) = struct.unpack(">I", message[:4])
        prompt_id = self._running_prompt
        if event_type == 1:  # preview image: format + bytes
            image = message[8:]
        elif event_type == 4:  # preview with metadata: length + JSON + bytes
            (length,) = struct.unpack(">I", message[4:8])
            try:
                meta = json.loads(message[8 : 8 + length])
                prompt_id = meta.get("prompt_id", prompt_id)
            except ValueError:
                return
            image = message[8 + length :]
        else:
            return
        queue = self._subscribers.get(str(prompt_id)) if prompt_id else None
        if queue is not None:
            queue.put_nowait(Frame("preview", {"prompt_id": prompt_id}, image))
