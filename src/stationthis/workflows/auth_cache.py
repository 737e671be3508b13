"""Who a session cookie or an API key belongs to, remembered for a short while.

Every request of a program or a browser names its secret; looking it up is two read
transactions (the secret's row, then the account). This cache keeps the answer in the
process for ``ttl`` seconds (30 by default), keyed by the secret's SHA-256 (the secret itself
is never kept).

A revocation (a key revoked, a sign-out, a password change, an account linked into another)
takes effect:

- in this process at once: the entry is dropped before the call returns;
- in other processes at once where signals cross processes (Redis): the change is published
  on ``auth:revoked`` and every process drops the matching entries when it hears it. With
  such signals an answer is cached only while this process is subscribed;
- at the latest after ``ttl`` seconds otherwise (no Redis, a lost signal, Redis down).

A lookup that was already reading the database when a revocation happened in this process
(or was heard from another) does not store its answer: it may predate the revocation.

The cached ``Account`` is what the request acts as. Whatever a change of the account itself
must refuse at once is checked against a fresh read where it is enforced (generation re-reads
the account, so a ban refuses the next job in every process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from stationthis.core.signals import LocalSignals, Signals
from stationthis.core.users import Account

log = logging.getLogger(__name__)

CHANNEL = "auth:revoked"  # {"hash": <secret's sha256>} or {"account": <account id>}
DEFAULT_TTL = 30.0  # seconds
MAX_ENTRIES = 50_000  # about 10 MB at most; the oldest entries go first beyond it


@dataclass(frozen=True, slots=True)
class _Entry:
    account: Account
    owners: frozenset[str]  # the account ids the secret points at (before and after merges)
    until: float  # on the cache's clock


class AuthCache:
    def __init__(
        self, ttl: float = DEFAULT_TTL, *, signals: Signals | None = None,
        max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.signals = signals
        self.max_entries = max_entries
        self.clock = clock
        # One process only (no signals, or in-process ones): nobody else can revoke.
        self._alone = signals is None or isinstance(signals, LocalSignals)
        self._entries: dict[str, _Entry] = {}
        self._epoch = 0  # moves on every revocation: an older lookup must not store
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        self.heard = 0  # revocations heard from other processes

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def epoch(self) -> int:
        """Take it before reading the database; pass it to ``put``."""
        return self._epoch

    def get(self, digest: str) -> Account | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.until <= self.clock():
            self._entries.pop(digest, None)
            return None
        return entry.account

    def put(self, digest: str, account: Account, *, owners: set[str], epoch: int,
            seconds: float | None = None) -> None:
        """Remember an answer read after ``epoch`` was taken, for at most ``seconds``
        (the secret's own remaining lifetime) and at most the TTL."""
        if self.ttl <= 0 or epoch != self._epoch:
            return
        if not self._alone:
            self._listen()
            if not self._listening:
                return  # a revocation elsewhere could not reach us yet
        lifetime = self.ttl if seconds is None else min(self.ttl, seconds)
        if lifetime <= 0:
            return
        if len(self._entries) >= self.max_entries and digest not in self._entries:
            self._make_room()
        self._entries[digest] = _Entry(account, frozenset(owners | {account.id}),
                                       self.clock() + lifetime)

    async def revoke(self, *, digest: str | None = None, account_id: str | None = None) -> None:
        """After a revocation committed: drop it here at once and tell the other processes."""
        self.drop(digest=digest, account_id=account_id)
        if self._alone or self.signals is None:
            return
        data = {"hash": digest} if digest is not None else {"account": account_id}
        await self.signals.publish(CHANNEL, data)

    def drop(self, *, digest: str | None = None, account_id: str | None = None) -> None:
        self._epoch += 1
        if digest is not None:
            self._entries.pop(digest, None)
        if account_id is not None:
            for key in [k for k, e in self._entries.items() if account_id in e.owners]:
                del self._entries[key]

    def clear(self) -> None:
        self._epoch += 1
        self._entries.clear()

    async def ready(self, timeout: float = 10.0) -> bool:
        """Start listening for other processes' revocations (it also starts by itself on the
        first lookup) and wait until this process is subscribed; whether it is."""
        if self._alone:
            return True
        self._listen()
        async with asyncio.timeout(timeout):
            while not self._listening:
                await asyncio.sleep(0.01)
        return True

    async def close(self) -> None:
        task, self._listener = self._listener, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.clear()

    # ----- internals ---------------------------------------------------------------------

    def _make_room(self) -> None:
        now = self.clock()
        for key in [k for k, e in self._entries.items() if e.until <= now]:
            del self._entries[key]
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest one

    def _listen(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._read(), name="auth-cache revocations")

    async def _read(self) -> None:
        assert self.signals is not None
        try:
            async with self.signals.subscribe(CHANNEL) as subscription:
                self._listening = True
                while True:
                    message = await subscription.get(timeout=None)
                    if message is None:
                        continue
                    data = message[1]
                    digest, account_id = data.get("hash"), data.get("account")
                    self.drop(digest=digest if isinstance(digest, str) else None,
                              account_id=account_id if isinstance(account_id, str) else None)
                    self.heard += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # the cache goes on without entries; the next lookup listens again
            log.exception("auth cache: listening for revocations failed")
        finally:
            self._listening = False
            self.clear()  # nothing cached while we cannot hear revocations
