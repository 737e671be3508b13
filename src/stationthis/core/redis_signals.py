"""Signals between processes over Redis pub/sub (``STATIONTHIS_REDIS_URL``).

Redis carries only what may be lost (see ``signals.py``): when it is down, publishing drops
the message (one warning per outage, an info line when it is back), subscribers' ``get()``
just times out, and every process goes on by polling the database. Nothing here raises to a
caller because Redis is unreachable.

Connections: one shared, bounded pool for publishing and ``ping``; one connection per live
subscription, held by a background reader that reconnects with backoff and subscribes again
after a Redis restart. Messages are JSON objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from stationthis.core.signals import Message, Subscription

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.0  # seconds: an unreachable Redis is noticed this fast (busy hosts need 1)
COMMAND_TIMEOUT = 1.0
PUBLISH_CONNECTIONS = 32  # the publishing pool's bound; callers wait (briefly) beyond it
RETRY_AFTER = 1.0  # while down, publishing tries Redis at most this often (else drops)
BACKOFF_MIN, BACKOFF_MAX = 0.1, 2.0  # a subscription's reconnect delays
SUBSCRIBE_WAIT = 3.0  # how long entering ``subscribe`` waits for a first SUBSCRIBE
READ_SLICE = 1.0  # a reader wakes this often (health checks run between reads)
HEALTH_CHECK_SECONDS = 15  # an idle subscription PINGs Redis this often
QUEUE_SIZE = 1024  # a slow subscriber drops messages beyond this, never blocks Redis reads
# Not only RedisError, OSError and timeouts: nothing a signal carrier does may take a publisher
# or a reader down with it (the worst it may cost is latency).
_ERRORS = (Exception,)


class RedisSignals:
    """The ``Signals`` port on Redis pub/sub; safe to share in one event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._where = _redacted(url)
        options: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": COMMAND_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),  # we decide about retries (drop, or reconnect)
            "decode_responses": True,
        }
        self._client: Redis = Redis.from_pool(BlockingConnectionPool.from_url(
            url, max_connections=PUBLISH_CONNECTIONS, timeout=COMMAND_TIMEOUT, **options
        ))
        self._sub_pool: ConnectionPool = ConnectionPool.from_url(
            url, health_check_interval=HEALTH_CHECK_SECONDS, **options
        )
        self._down = False
        self._retry_at = 0.0
        self._subs: set[_RedisSubscription] = set()

    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        try:
            payload = json.dumps(data, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            log.warning("signal on %s dropped: not JSON (%s)", channel, error)
            return
        if self._down and time.monotonic() < self._retry_at:
            return  # Redis was down a moment ago: drop rather than wait on every call
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT * 2):
                await self._client.publish(channel, payload)
        except _ERRORS as error:
            self.mark_down(error)
            return
        self.mark_up()

    @contextlib.asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        sub = _RedisSubscription(self, channels)
        self._subs.add(sub)
        try:
            await sub.start()
            yield sub
        finally:
            self._subs.discard(sub)
            await sub.stop()

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT * 2):
                await self._client.ping()
        except _ERRORS as error:
            self.mark_down(error)
            return False
        self.mark_up()
        return True

    async def close(self) -> None:
        for sub in list(self._subs):
            await sub.stop()
        self._subs.clear()
        with contextlib.suppress(*_ERRORS):
            await self._client.aclose(close_connection_pool=True)
        with contextlib.suppress(*_ERRORS):
            await self._sub_pool.disconnect()

    def pubsub(self) -> PubSub:
        """A pub/sub session on its own connection (from the subscribers' pool)."""
        return Redis.from_pool(self._sub_pool).pubsub()

    def mark_down(self, error: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_AFTER
        if not self._down:
            self._down = True
            log.warning(
                "Redis at %s is unreachable (%s): signals between processes are paused; "
                "jobs and progress continue through the database, only slower",
                self._where, _describe(error),
            )

    def mark_up(self) -> None:
        if self._down:
            self._down = False
            log.info("Redis at %s is reachable again: signals between processes resume",
                     self._where)


class _RedisSubscription:
    def __init__(self, owner: RedisSignals, channels: tuple[str, ...]) -> None:
        self.owner = owner
        self.channels = channels
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._tried = asyncio.Event()  # the first connection attempt is over (either way)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._read(), name=f"redis-subscription {self.channels}")
        with contextlib.suppress(TimeoutError):  # Redis down: get() times out until it's back
            await asyncio.wait_for(self._tried.wait(), SUBSCRIBE_WAIT)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def get(self, timeout: float | None = None) -> Message | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    async def _read(self) -> None:
        delay = BACKOFF_MIN
        while True:
            pubsub = self.owner.pubsub()
            try:
                await self._subscribe(pubsub)
                self.owner.mark_up()
                self._tried.set()
                delay = BACKOFF_MIN
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=READ_SLICE
                    )
                    if message is not None:
                        self._deliver(message)
            except _ERRORS as error:
                self.owner.mark_down(error)
            finally:
                with contextlib.suppress(*_ERRORS):
                    await pubsub.aclose()
            self._tried.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _subscribe(self, pubsub: PubSub) -> None:
        """SUBSCRIBE, then wait until Redis confirmed every channel: only then is a message
        published by another connection sure to reach us."""
        await pubsub.subscribe(*self.channels)
        waiting = set(self.channels)
        async with asyncio.timeout(SUBSCRIBE_WAIT):
            while waiting:
                message = await pubsub.get_message(timeout=READ_SLICE)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    waiting.discard(message["channel"])
                else:
                    self._deliver(message)

    def _deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            data = json.loads(message["data"])
        except (TypeError, ValueError):
            log.warning("ignored a signal on %s that is not JSON", message.get("channel"))
            return
        if not isinstance(data, dict):
            return
        with contextlib.suppress(asyncio.QueueFull):  # a slow reader drops, as Redis would
            self.queue.put_nowait((str(message["channel"]), data))


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
