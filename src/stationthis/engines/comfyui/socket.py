"""One websocket per ComfyUI server, shared by every prompt we run there, and one frame
router on it: a dict prompt id -> `Sink`, the small record each running prompt keeps.

The socket is lossy by nature: ComfyUI does not buffer frames for a disconnected client. So
the listener reconnects on its own, and tells every sink ``DROPPED`` when the line was down —
the job then asks ``/history`` what it missed. Silence is watched here too, by one task per
server (not a timer per job): every few seconds it looks for sinks that heard nothing for
``silence`` seconds, reads ``/queue`` once for all of them, and tells only those the server no
longer lists ``SILENT`` (they finished unheard or were lost: the job asks ``/history``).

A sink also keeps the images the prompt's ``executed`` frames named, so a finished job needs
no ``GET /history``: ``Sink.images`` is None when the line dropped while it ran (or the sink
was opened after the prompt was queued) — then the outputs come from ``/history`` as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect

log = logging.getLogger(__name__)

DROPPED = "dropped"  # the line was down: frames may be lost
SILENT = "silent"  # nothing heard for a while and /queue no longer lists the prompt
_WAKE_FRAMES = {DROPPED, SILENT}

ActivePrompts = Callable[[float], Awaitable[set[str]]]


@dataclass(frozen=True, slots=True)
class Frame:
    type: str
    data: dict[str, Any]
    image: bytes | None = None  # binary preview frames


class Sink:
    """What the router keeps for one prompt: frames not read yet (usually none), the waiter
    while its job waits, when it was last heard of, and the images its ``executed`` frames
    named (None: unknown, some may have been missed)."""

    __slots__ = ("frames", "heard_at", "images", "since", "succeeded", "waiter")

    def __init__(self, since: float, *, fresh: bool) -> None:
        self.frames: list[Frame] = []
        self.waiter: asyncio.Future[None] | None = None
        self.heard_at = time.monotonic()
        self.since = since  # monotonic time the prompt was queued (0: unknown)
        self.images: list[tuple[str, dict[str, Any]]] | None = [] if fresh else None
        self.succeeded = False  # execution_success arrived

    def push(self, frame: Frame) -> None:
        self.frames.append(frame)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def get(self) -> Frame:
        """The next frame (``DROPPED`` or ``SILENT`` included), waiting as long as it takes."""
        while not self.frames:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        frames = self.frames
        frame = frames.pop(0)
        return frame

    def record(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "executed" and self.images is not None:
            output = data.get("output")
            images = output.get("images") if isinstance(output, dict) else None
            node = str(data.get("node"))
            for image in images if isinstance(images, list) else ():
                if isinstance(image, dict) and isinstance(image.get("filename"), str):
                    self.images.append((node, image))
        elif kind == "execution_success":
            self.succeeded = True


class ServerSocket:
    def __init__(self, base_url: str, client_id: str) -> None:
        scheme = "wss" if base_url.startswith("https") else "ws"
        self.url = f"{scheme}://{base_url.split('://', 1)[1].rstrip('/')}/ws?clientId={client_id}"
        self.connected = asyncio.Event()
        self.queue_remaining = 0
        self.sinks: dict[str, Sink] = {}
        self._running_prompt: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._ws: Any = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=f"comfyui-ws {self.url}")

    def watch_silence(self, active: ActivePrompts, silence: float) -> None:
        """Start the server's silence watch (once): ``active(newer_than)`` lists the prompt
        ids the server still has queued or running, read after ``newer_than``."""
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._watch_loop(active, silence),
                                              name=f"comfyui-silence {self.url}")

    async def stop(self) -> None:
        for task in (self._task, self._watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._watch = None
        self.connected.clear()

    async def wait_connected(self, timeout: float) -> bool:
        if self.connected.is_set():
            return True
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

    def subscribe(self, prompt_id: str, since: float = 0.0, *, fresh: bool = False) -> Sink:
        """The prompt's sink. ``fresh``: opened before the prompt was queued, so every frame
        of the run will pass through it (a new sink replaces an old one)."""
        sink = self.sinks.get(prompt_id)
        if sink is None or fresh:
            sink = self.sinks[prompt_id] = Sink(since, fresh=fresh)
        return sink

    def unsubscribe(self, prompt_id: str, sink: Sink | None = None) -> None:
        """Forget the prompt's sink (only ``sink`` itself, when given)."""
        if sink is None or self.sinks.get(prompt_id) is sink:
            self.sinks.pop(prompt_id, None)

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
                dropped = Frame(DROPPED, {})
                for sink in self.sinks.values():
                    sink.images = None  # an executed frame may have been missed
                    sink.push(dropped)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)

    async def _watch_loop(self, active: ActivePrompts, silence: float) -> None:
        """Every ``silence / 2`` seconds: the sinks silent for ``silence`` seconds are checked
        against one ``/queue`` read; those it does not list are told ``SILENT``."""
        while True:
            await asyncio.sleep(silence / 2)
            now = time.monotonic()
            stale = [(pid, sink) for pid, sink in self.sinks.items()
                     if now - sink.heard_at >= silence]
            if not stale:
                continue
            try:
                listed = await active(max(sink.since for _, sink in stale))
            except Exception as exc:  # down or garbled: let each job judge for itself
                log.debug("silence check on %s: %s", self.url, exc)
                listed = set()
            now = time.monotonic()
            for prompt_id, sink in stale:
                sink.heard_at = now  # judged now: the next look is a silence later
                if prompt_id not in listed:
                    sink.push(Frame(SILENT, {}))

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
        sink = self.sinks.get(str(prompt_id))
        if sink is None:
            return
        sink.heard_at = time.monotonic()
        if kind in ("executed", "execution_success"):
            sink.record(kind, data)
            if kind == "executed":
                return  # its images are recorded; the job has nothing to say about it
        sink.push(Frame(kind, data))

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
        sink = self.sinks.get(str(prompt_id)) if prompt_id else None
        if sink is not None:
            sink.heard_at = time.monotonic()
            sink.push(Frame("preview", {"prompt_id": prompt_id}, image))


def is_wake(frame: Frame) -> bool:
    """A frame that asks the job to look at ``/queue`` and ``/history`` itself."""
    return frame.type in _WAKE_FRAMES
