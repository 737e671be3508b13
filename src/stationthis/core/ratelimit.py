"""Chat rate limits and send pacing, as small ports with in-process defaults.

``RateLimiter``: a per-key token bucket (a burst of ``capacity`` tokens, then ``rate`` per
second), used by platforms against floods from one user; an action may cost more or less
than one token (``cost``: a job start 1, an upload a fraction). ``take`` is the port
(``ChatLimiter``); the in-memory bucket is per process. ``redis_limits.RedisRateLimiter`` shares
the buckets between processes when Redis is configured.

``Pacer``: when a chat may get the next message. ``LocalPacer`` keeps, per chat, at most one
progress edit per ``interval`` and a pause after the platform's 429; ``redis_limits.RedisPacer``
also counts per group and per bot, across processes.

``Limits`` is what the composition root hands to workflows and platforms: the throttle, the
replay guard, and factories for chat limiters and pacers. ``LocalLimits`` is the embedded
default (SQL throttle and replay guard, in-memory buckets and pacing).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from stationthis.core.db import Database
from stationthis.core.replay import ReplayGuard, SqlReplayGuard
from stationthis.core.throttle import SqlThrottle, Throttle


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds until the key has a token again (refused only)
    warn: bool = False  # the first refusal of a run: tell the user once, not per message


class ChatLimiter(Protocol):
    async def take(self, key: str, cost: float = 1.0) -> Verdict:
        """Take ``cost`` tokens for ``key``; refused (nothing taken) when it has fewer."""
        ...


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


class RateLimiter:
    def __init__(self, capacity: int, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 remember: int = 10_000) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError("capacity must be ≥ 1 and rate > 0")
        self.capacity = capacity
        self.rate = rate  # tokens per second
        self.clock = clock
        self.remember = remember
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    async def take(self, key: str, cost: float = 1.0) -> Verdict:
        if self.allow(key, cost):
            return Verdict(True)
        return Verdict(False, self.retry_after(key, cost), self.first_refusal(key))

    def allow(self, key: str, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens for ``key``; False (nothing taken) when it has fewer."""
        bucket = self._bucket(key)
        cost = min(cost, self.capacity)  # a dear action still goes once the bucket is full
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            bucket.warned = False
            return True
        return False

    def retry_after(self, key: str, cost: float = 1.0) -> float:
        """Seconds until ``key`` has ``cost`` tokens again (0 when it has them now)."""
        bucket = self._bucket(key)
        cost = min(cost, self.capacity)
        return 0.0 if bucket.tokens >= cost else (cost - bucket.tokens) / self.rate

    def first_refusal(self, key: str) -> bool:
        """True once per run of refusals, so a flood is answered once, not once per message."""
        bucket = self._bucket(key)
        if bucket.warned:
            return False
        bucket.warned = True
        return True

    def _bucket(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.capacity), now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.remember:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            self._buckets.move_to_end(key)
        return bucket


class Pacer(Protocol):
    async def try_send(self, chat: str, *, group: bool = False, interval: bool = True) -> bool:
        """May a skippable message (a progress edit) go to ``chat`` now? True claims the slot;
        False: skip it, the next one carries the latest state. ``interval=False`` ignores the
        per-chat interval (a queue note) but still claims it."""
        ...

    async def before_send(self, chat: str, *, group: bool = False, wait: float = 3.0) -> None:
        """A message that must go (a result): wait, at most ``wait`` seconds, for a slot."""
        ...

    async def pause(self, chat: str, seconds: float) -> None:
        """The platform answered 429: nothing more to ``chat`` for ``seconds``."""
        ...


class LocalPacer:
    """Per process: one progress edit per ``interval`` per chat, and 429 pauses."""

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic,
                 remember: int = 10_000) -> None:
        self.interval = interval
        self.clock = clock
        self.remember = remember
        self._last: OrderedDict[str, float] = OrderedDict()
        self._blocked_until: dict[str, float] = {}

    async def try_send(self, chat: str, *, group: bool = False, interval: bool = True) -> bool:
        now = self.clock()
        if self.paused_for(chat) > 0:
            return False
        if interval and now - self._last.get(chat, -1e9) < self.interval:
            return False
        self._last[chat] = now
        self._last.move_to_end(chat)
        if len(self._last) > self.remember:
            self._last.popitem(last=False)
        return True

    async def before_send(self, chat: str, *, group: bool = False, wait: float = 3.0) -> None:
        return None  # results go at once; a 429 on them is waited out by the sender

    async def pause(self, chat: str, seconds: float) -> None:
        self._blocked_until[chat] = self.clock() + seconds
        if len(self._blocked_until) > self.remember:
            now = self.clock()
            self._blocked_until = {k: v for k, v in self._blocked_until.items() if v > now}

    def paused_for(self, chat: str) -> float:
        until = self._blocked_until.get(chat)
        if until is None:
            return 0.0
        left = until - self.clock()
        if left <= 0:
            self._blocked_until.pop(chat, None)
            return 0.0
        return left


@dataclass(frozen=True)
class PaceLimits:
    """How fast a platform's bot may send: ``interval`` seconds between progress edits of
    one chat; at most ``per_group_minute`` messages a minute to a group and ``per_second``
    from the whole bot (0: no such limit; shared pacers only)."""

    interval: float
    per_group_minute: int = 0
    per_second: int = 0


class SignInBackoff(Protocol):
    """Failed sign-ins per key: ``reserve_attempt`` counts one BEFORE the password is checked
    and answers None (go ahead) or the seconds to wait; a success clears the count.
    ``core.auth.AuthStore`` is the database implementation."""

    async def reserve_attempt(self, key: str, free: int) -> int | None: ...

    async def clear_failures(self, key: str) -> None: ...


class Limits(Protocol):
    throttle: Throttle
    replay: ReplayGuard

    def sign_in_backoff(self, store: SignInBackoff) -> SignInBackoff:
        """The sign-in backoff: ``store`` (the database), or shared in Redis before it."""
        ...

    def chat_limiter(self, name: str, capacity: int, rate: float) -> ChatLimiter:
        """A token bucket per key, named ``name`` (e.g. ``telegram``)."""
        ...

    def pacer(self, name: str, limits: PaceLimits) -> Pacer:
        """Send pacing for one bot, named ``name`` (e.g. ``telegram:<bot id>``)."""
        ...

    async def close(self) -> None: ...


class LocalLimits:
    """The embedded default: throttle and replay guard in the database (they hold across
    processes), chat buckets and pacing in memory."""

    def __init__(self, db: Database) -> None:
        self.throttle: Throttle = SqlThrottle(db)
        self.replay: ReplayGuard = SqlReplayGuard(db)

    def sign_in_backoff(self, store: SignInBackoff) -> SignInBackoff:
        return store

    def chat_limiter(self, name: str, capacity: int, rate: float) -> ChatLimiter:
        return RateLimiter(capacity, rate)

    def pacer(self, name: str, limits: PaceLimits) -> Pacer:
        return LocalPacer(limits.interval)

    async def close(self) -> None:
        return None
