"""Throttles, replay guards, chat rate limits and send pacing shared in Redis
(``STATIONTHIS_REDIS_URL``), each beside the implementation it replaces.

Redis only makes these faster and shared; it is never the only thing standing. Every call
that finds Redis unreachable (or failing in any way) is answered by the fallback instead —
the SQL throttle and sign-in backoff (security limits never fail open: an outage starts
their count afresh in the database, so at most one more allowance of attempts), the
in-process token bucket and pacer — with one warning per outage and an info line when Redis
is back. While it is down, Redis is tried again at most once a second; the rest go straight
to the fallback. The replay guard keeps the database as its authority (Redis answers the
repeats), so a lost Redis key never lets a duplicate or a replay through.

Keys live under ``stationthis:`` and carry their own expiry, so Redis needs no clean-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from stationthis.core.db import Database
from stationthis.core.ratelimit import (
    ChatLimiter,
    LocalLimits,
    LocalPacer,
    PaceLimits,
    Pacer,
    RateLimiter,
    SignInBackoff,
    Verdict,
)
from stationthis.core.redis_signals import _describe, _redacted
from stationthis.core.replay import ReplayGuard
from stationthis.core.throttle import Allowed, Refused, Throttle, stored_key

log = logging.getLogger(__name__)
T = TypeVar("T")
PREFIX = "stationthis:"
CONNECT_TIMEOUT = 1.0  # a busy process's event loop can stall a loopback connect
COMMAND_TIMEOUT = 1.0
CONNECTIONS = 16
RETRY_AFTER = 1.0  # while down, Redis is tried at most this often
BACKOFF_MEMORY_MS = 7 * 24 * 3600 * 1000  # failed sign-ins are forgotten a week after the last
POLL = 0.05  # a result waiting for its slot looks again this often (at least)

# A fixed window: the first hit opens it (and sets its expiry); returns {hits, ms left}.
_HIT = """
local n = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if n == 1 or left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {n, left}
"""
_UNDO = """
local n = tonumber(redis.call('GET', KEYS[1]))
if n and n > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""
# A token bucket in a hash (tokens, at, warned); ARGV[3] tokens are taken (at most the
# capacity, as RateLimiter does). Returns {allowed, warn, "seconds to wait"}.
_TAKE = """
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost = math.min(tonumber(ARGV[3] or '1'), capacity)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'warned')
local tokens, at, warned = tonumber(b[1]), tonumber(b[2]), b[3]
if tokens == nil or at == nil then
  tokens, warned = capacity, '0'
else
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
end
local allowed, warn, wait = 0, 0, 0
if tokens >= cost then
  tokens, allowed, warned = tokens - cost, 1, '0'
else
  wait = (cost - tokens) / rate
  if warned ~= '1' then warn, warned = 1, '1' end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now), 'warned', warned)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 60000)
return {allowed, warn, tostring(wait)}
"""
# Sign-in backoff in a hash (failures, locked: ms since the epoch); after ARGV[1] free
# failures each attempt locks the key twice as long as the one before (1 s … 15 min).
# Returns 0 (go ahead, counted) or the ms to wait. Forgotten ARGV[2] ms after the last one.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local locked = tonumber(redis.call('HGET', KEYS[1], 'locked') or '0')
if locked > now then return locked - now end
local count = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0') + 1
local free = tonumber(ARGV[1])
local wait = 0
if count > free then wait = math.min(2 ^ (count - free - 1), 900) end
redis.call('HSET', KEYS[1], 'failures', count, 'locked', now + wait * 1000)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
"""
# Send pacing: KEYS = chat pause, chat interval, group window, bot window;
# ARGV = interval ms (0: none), group limit (0: not a group), bot limit (0: none),
# use the interval (1/0). Returns 0 (claimed) or the ms to wait.
_PACE = """
local left = redis.call('PTTL', KEYS[1])
if left > 0 then return left end
local interval, group, bot = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[4] == '1' and interval > 0 then
  left = redis.call('PTTL', KEYS[2])
  if left > 0 then return left end
end
if group > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= group then
  left = redis.call('PTTL', KEYS[3])
  if left > 0 then return left end
end
if bot > 0 and tonumber(redis.call('GET', KEYS[4]) or '0') >= bot then
  left = redis.call('PTTL', KEYS[4])
  if left > 0 then return left end
end
if interval > 0 then redis.call('SET', KEYS[2], '1', 'PX', interval) end
if group > 0 and redis.call('INCR', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], 60000) end
if bot > 0 and redis.call('INCR', KEYS[4]) == 1 then redis.call('PEXPIRE', KEYS[4], 1000) end
return 0
"""


class RedisDown(Exception):
    """Redis could not answer; the caller uses its fallback."""


class RedisLink:
    """One bounded connection pool and the outage state that every limit here shares."""

    def __init__(self, url: str) -> None:
        self._where = _redacted(url)
        self.client: Redis = Redis.from_pool(BlockingConnectionPool.from_url(
            url, max_connections=CONNECTIONS, timeout=COMMAND_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 0), decode_responses=True,
        ))
        self.scripts = {name: self.client.register_script(source) for name, source in (
            ("hit", _HIT), ("undo", _UNDO), ("take", _TAKE), ("pace", _PACE),
            ("reserve", _RESERVE))}
        self._down = False
        self._retry_at = 0.0

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call``'s answer, or RedisDown (never another error) when Redis fails."""
        if self._down and time.monotonic() < self._retry_at:
            raise RedisDown()
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT * 2):
                answer = await call()
        except Exception as error:  # nothing Redis does may break a caller: it falls back
            self._mark_down(error)
            raise RedisDown() from error
        if self._down:
            self._down = False
            log.info("Redis at %s is reachable again: shared rate limits resume", self._where)
        return answer

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self.run(lambda: self.scripts[name](keys=keys, args=args))

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection is fine
            await self.client.aclose(close_connection_pool=True)

    def _mark_down(self, error: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_AFTER
        if not self._down:
            self._down = True
            log.warning(
                "Redis at %s is unreachable (%s): rate limits, replay and update checks use "
                "the database and this process's memory until it is back", self._where,
                _describe(error),
            )


class RedisThrottle:
    """The ``Throttle`` port: one counter per key and window (INCR, expiry set by the first
    hit), atomic in a Lua script; ``fallback`` answers while Redis is down."""

    def __init__(self, link: RedisLink, fallback: Throttle) -> None:
        self.link = link
        self.fallback = fallback

    async def hit(self, key: str, limit: int, window_seconds: float) -> Allowed | Refused:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a throttle needs limit ≥ 1 and a window > 0")
        window_ms = max(1, math.ceil(window_seconds * 1000))
        try:
            hits, left = await self.link.script("hit", [_key("throttle", key)], [window_ms])
        except RedisDown:
            return await self.fallback.hit(key, limit, window_seconds)
        if int(hits) <= limit:
            return Allowed(limit - int(hits))
        return Refused(max(1, math.ceil(int(left) / 1000)))

    async def undo(self, key: str) -> None:
        try:
            await self.link.script("undo", [_key("throttle", key)], [])
        except RedisDown:
            await self.fallback.undo(key)


class RedisReplayGuard:
    """The ``ReplayGuard`` port, Redis in front of the database: ``SET key 1 NX PX ttl``
    refuses a key seen before without touching the database (a retry or replay storm costs
    Redis one command each); a key Redis has not seen is still decided by ``store`` (the
    database), because a key Redis lost (a restart, an outage, a timeout) must not let a
    duplicate job or a replayed request through."""

    def __init__(self, link: RedisLink, store: ReplayGuard) -> None:
        self.link = link
        self.store = store

    async def first_time(self, key: str, ttl_seconds: float) -> bool:
        ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        redis_key = _key("seen", key)
        with contextlib.suppress(RedisDown):
            if not await self.link.run(
                    lambda: self.link.client.set(redis_key, "1", nx=True, px=ttl_ms)):
                return False
        return await self.store.first_time(key, ttl_seconds)


class RedisSignInBackoff:
    """The sign-in backoff (``SignInBackoff``) in Redis, atomic in a Lua script; while Redis
    is down the database counts instead, so the backoff never fails open (an outage starts
    that count afresh: a few more free attempts, then the doubling waits again)."""

    def __init__(self, link: RedisLink, fallback: SignInBackoff) -> None:
        self.link = link
        self.fallback = fallback

    async def reserve_attempt(self, key: str, free: int) -> int | None:
        try:
            wait_ms = int(await self.link.script(
                "reserve", [_key("signin", key)], [free, BACKOFF_MEMORY_MS]))
        except RedisDown:
            return await self.fallback.reserve_attempt(key, free)
        return max(1, math.ceil(wait_ms / 1000)) if wait_ms > 0 else None

    async def clear_failures(self, key: str) -> None:
        redis_key = _key("signin", key)
        with contextlib.suppress(RedisDown):
            await self.link.run(lambda: self.link.client.delete(redis_key))
        # also what an earlier outage counted in the database
        await self.fallback.clear_failures(key)


class RedisRateLimiter:
    """The ``ChatLimiter`` port: a token bucket per key in Redis (one Lua script, Redis's
    clock); the in-process bucket answers while Redis is down."""

    def __init__(self, link: RedisLink, name: str, capacity: int, rate: float) -> None:
        self.link = link
        self.name = name
        self.capacity = capacity
        self.rate = rate
        self.fallback = RateLimiter(capacity, rate)

    async def take(self, key: str, cost: float = 1.0) -> Verdict:
        try:
            allowed, warn, wait = await self.link.script(
                "take", [_key(f"rate:{self.name}", key)],
                [self.capacity, repr(self.rate), repr(float(cost))])
        except RedisDown:
            return await self.fallback.take(key, cost)
        if int(allowed):
            return Verdict(True)
        return Verdict(False, float(wait), bool(int(warn)))


class RedisPacer:
    """The ``Pacer`` port across processes: per chat one progress edit per interval, per
    group ``per_group_minute`` messages a minute, per bot ``per_second`` a second, and a
    429 pauses the chat for every process. While Redis is down, a ``LocalPacer``."""

    def __init__(self, link: RedisLink, name: str, limits: PaceLimits) -> None:
        self.link = link
        self.name = name
        self.limits = limits
        self.local = LocalPacer(limits.interval)

    async def try_send(self, chat: str, *, group: bool = False, interval: bool = True) -> bool:
        try:
            return await self._claim(chat, group, interval) == 0
        except RedisDown:
            return await self.local.try_send(chat, group=group, interval=interval)

    async def before_send(self, chat: str, *, group: bool = False, wait: float = 3.0) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                left = await self._claim(chat, group, True) / 1000
            except RedisDown:
                return
            if left <= 0:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return  # waited enough: a result goes anyway (a 429 is waited out)
            await asyncio.sleep(min(max(left, POLL), remaining))

    async def pause(self, chat: str, seconds: float) -> None:
        await self.local.pause(chat, seconds)
        ms = max(1, math.ceil(seconds * 1000))
        key = self._key(chat, "pause")
        with contextlib.suppress(RedisDown):  # this process's pause still holds
            await self.link.run(lambda: self.link.client.set(key, "1", px=ms))

    async def _claim(self, chat: str, group: bool, interval: bool) -> int:
        if self.local.paused_for(chat) > 0:  # a 429 this process saw holds during outages too
            return max(1, math.ceil(self.local.paused_for(chat) * 1000))
        limits = self.limits
        keys = [self._key(chat, "pause"), self._key(chat, "last"), self._key(chat, "minute"),
                _key(f"pace:{self.name}", "second")]
        args = [max(0, math.ceil(limits.interval * 1000)),
                limits.per_group_minute if group else 0, limits.per_second, int(interval)]
        return int(await self.link.script("pace", keys, args))

    def _key(self, chat: str, what: str) -> str:
        return _key(f"pace:{self.name}:{what}", chat)


class RedisLimits:
    """``Limits`` with Redis first and the embedded implementations as fallbacks."""

    def __init__(self, db: Database, url: str) -> None:
        self.link = RedisLink(url)
        local = LocalLimits(db)
        self.throttle: Throttle = RedisThrottle(self.link, local.throttle)
        self.replay: ReplayGuard = RedisReplayGuard(self.link, local.replay)

    def sign_in_backoff(self, store: SignInBackoff) -> SignInBackoff:
        return RedisSignInBackoff(self.link, store)

    def chat_limiter(self, name: str, capacity: int, rate: float) -> ChatLimiter:
        return RedisRateLimiter(self.link, name, capacity, rate)

    def pacer(self, name: str, limits: PaceLimits) -> Pacer:
        return RedisPacer(self.link, name, limits)

    async def close(self) -> None:
        await self.link.close()


def _key(kind: str, key: str) -> str:
    return f"{PREFIX}{kind}:{stored_key(key)}"
