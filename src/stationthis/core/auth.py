"""Web accounts: passwords (scrypt), browser sessions, API keys, one-time sign-in links and the
sign-in backoff. Only hashes of secrets are stored; a secret is shown once, when it is made.

Sessions, keys and links point at an account; when that account was since linked into
another (``accounts.merged_into``), they follow it to the account in use now.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from stationthis.core.db import Database, as_utc, new_id, utcnow
from stationthis.core.errors import Conflict, NotFound, StationError
from stationthis.core.points import live_account
from stationthis.core.schema import (
    api_keys,
    identities,
    login_failures,
    login_links,
    web_logins,
    web_sessions,
)

# scrypt parameters (RFC 7914): 16 MiB of memory per hash, about 50 ms on one core.
_N, _R, _P = 2**14, 8, 1
_MAXMEM = 64 * 1024 * 1024
KEY_PREFIX = "st_"


class NotSignedIn(StationError):
    code = "unauthorized"


class BadCredentials(StationError):
    code = "invalid_credentials"


class TooManyAttempts(StationError):
    code = "too_many_attempts"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest + "==")
        actual = hashlib.scrypt(
            password.encode(), salt=base64.urlsafe_b64decode(salt + "=="), n=int(n), r=int(r),
            p=int(p), maxmem=_MAXMEM, dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def secret_hash(secret: str) -> str:
    """Sessions, links and keys are 256-bit random: one SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Login:
    username: str
    email: str | None
    password_hash: str


@dataclass(frozen=True)
class SecretOwner:
    """Whom a live session or key belongs to."""

    account_id: str  # the account in use now (after any merges)
    stored_account_id: str  # the account the secret was made for
    expires_at: datetime  # sessions expire; keys never do (datetime.max)


@dataclass(frozen=True)
class ApiKey:
    id: str
    account_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class AuthStore:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    # ----- passwords ---------------------------------------------------------------------

    async def add_login(self, username: str, email: str | None, password: str) -> None:
        hashed = await asyncio.to_thread(hash_password, password)
        try:
            async with self.db.write() as conn:
                await conn.execute(insert(web_logins).values(
                    username=username, email=email, password_hash=hashed, created_at=utcnow(),
                ))
        except IntegrityError:
            raise Conflict("that username or email is already taken") from None

    async def find_login(self, name: str) -> Login | None:
        """A login by username or (with an @) email."""
        column = web_logins.c.email if "@" in name else web_logins.c.username
        async with self.db.read() as conn:
            row = (await conn.execute(select(web_logins).where(column == name))).first()
        return Login(row.username, row.email, row.password_hash) if row else None

    async def set_password(self, username: str, password: str) -> None:
        hashed = await asyncio.to_thread(hash_password, password)
        async with self.db.write() as conn:
            await conn.execute(update(web_logins).where(web_logins.c.username == username)
                               .values(password_hash=hashed))

    async def identity_account(self, platform: str, external_id: str) -> str | None:
        """The account in use now behind a platform identity (None: no such identity)."""
        async with self.db.read() as conn:
            account_id = (await conn.execute(
                select(identities.c.account_id).where(identities.c.platform == platform,
                                                      identities.c.external_id == external_id)
            )).scalar_one_or_none()
            return await live_account(conn, account_id) if account_id else None

    # ----- sign-in backoff ---------------------------------------------------------------

    async def reserve_attempt(self, key: str, free: int) -> int | None:
        """Count one sign-in attempt BEFORE its password is checked; None: go ahead, else the
        seconds it must wait. After ``free`` attempts each one locks the key for twice as long
        as the one before (1 s … 15 min), from the moment it is counted, so parallel attempts
        cannot all pass one check before any of them is counted. One write transaction on a
        locked row: atomic across processes (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the row
        is made if missing, then locked ``FOR UPDATE``). A success clears the count."""
        now = self.clock()
        t = login_failures
        insert_ = sqlite_insert if self.db.is_sqlite else pg_insert
        async with self.db.write() as conn:
            await conn.execute(insert_(t).values(key=key, failures=0, last_failed_at=now)
                               .on_conflict_do_nothing(index_elements=[t.c.key]))
            row = (await conn.execute(
                select(t.c.failures, t.c.locked_until).where(t.c.key == key).with_for_update()
            )).one()
            if row.locked_until is not None and as_utc(row.locked_until) > now:
                return max(1, math.ceil((as_utc(row.locked_until) - now).total_seconds()))
            count = row.failures + 1
            wait = min(2 ** (count - free - 1), 900) if count > free else 0
            await conn.execute(update(t).where(t.c.key == key).values(
                failures=count, last_failed_at=now,
                locked_until=now + timedelta(seconds=wait) if wait else None))
        return None

    async def clear_failures(self, key: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(login_failures).where(login_failures.c.key == key))

    # ----- sessions ----------------------------------------------------------------------

    async def new_session(self, account_id: str, lifetime: timedelta) -> tuple[str, datetime]:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.write() as conn:
            await conn.execute(insert(web_sessions).values(
                token_hash=secret_hash(token), account_id=account_id, created_at=now,
                expires_at=now + lifetime,
            ))
        return token, now + lifetime

    async def session_account(self, token: str) -> str | None:
        found = await self.session_lookup(secret_hash(token))
        return found.account_id if found else None

    async def session_lookup(self, token_hash: str) -> SecretOwner | None:
        """The owner of a live session, by the hash of its token (one read transaction)."""
        t = web_sessions
        async with self.db.read() as conn:
            row = (await conn.execute(
                select(t.c.account_id, t.c.expires_at, t.c.revoked_at)
                .where(t.c.token_hash == token_hash)
            )).first()
            if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= utcnow():
                return None
            live = await live_account(conn, row.account_id)
        return SecretOwner(live, row.account_id, as_utc(row.expires_at))

    async def end_session(self, token: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(web_sessions)
                               .where(web_sessions.c.token_hash == secret_hash(token),
                                      web_sessions.c.revoked_at.is_(None))
                               .values(revoked_at=utcnow()))

    async def end_other_sessions(self, account_id: str, keep: str | None) -> None:
        """Sign the account out everywhere but in the session ``keep`` (a token)."""
        query = update(web_sessions).where(web_sessions.c.account_id == account_id,
                                           web_sessions.c.revoked_at.is_(None))
        if keep:
            query = query.where(web_sessions.c.token_hash != secret_hash(keep))
        async with self.db.write() as conn:
            await conn.execute(query.values(revoked_at=utcnow()))

    # ----- one-time sign-in links --------------------------------------------------------

    async def new_link(self, account_id: str, lifetime: timedelta) -> str:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.write() as conn:
            await conn.execute(insert(login_links).values(
                token_hash=secret_hash(token), account_id=account_id, created_at=now,
                expires_at=now + lifetime,
            ))
        return token

    async def use_link(self, token: str) -> str | None:
        """The account of a valid, unused link, marking it used (once, even when raced)."""
        key = secret_hash(token)
        async with self.db.write() as conn:
            row = (await conn.execute(
                select(login_links).where(login_links.c.token_hash == key).with_for_update()
            )).first()
            if row is None or row.used_at is not None or as_utc(row.expires_at) <= utcnow():
                return None
            done = await conn.execute(update(login_links).where(
                login_links.c.token_hash == key, login_links.c.used_at.is_(None)
            ).values(used_at=utcnow()))
            if not done.rowcount:
                return None
            return await live_account(conn, row.account_id)

    # ----- API keys ----------------------------------------------------------------------

    async def new_key(self, account_id: str, name: str) -> tuple[ApiKey, str]:
        prefix = secrets.token_hex(4)
        secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        key_id = new_id()
        async with self.db.write() as conn:
            await conn.execute(insert(api_keys).values(
                id=key_id, account_id=account_id, name=name, prefix=f"{KEY_PREFIX}{prefix}",
                key_hash=secret_hash(secret), created_at=utcnow(),
            ))
        keys = await self.keys_of(account_id)
        return next(k for k in keys if k.id == key_id), secret

    async def keys_of(self, account_id: str) -> list[ApiKey]:
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(api_keys).where(api_keys.c.account_id == account_id,
                                       api_keys.c.revoked_at.is_(None))
                .order_by(api_keys.c.created_at, api_keys.c.id)
            )).all()
        return [ApiKey(r.id, r.account_id, r.name, r.prefix, as_utc(r.created_at),
                       as_utc(r.last_used_at) if r.last_used_at else None) for r in rows]

    async def revoke_key(self, account_id: str, key_id: str) -> None:
        async with self.db.write() as conn:
            done = await conn.execute(update(api_keys).where(
                api_keys.c.id == key_id, api_keys.c.account_id == account_id,
                api_keys.c.revoked_at.is_(None),
            ).values(revoked_at=utcnow()))
        if not done.rowcount:
            raise NotFound("no such API key")

    async def key_account(self, secret: str, touch_every: timedelta) -> str | None:
        found = await self.key_lookup(secret_hash(secret), touch_every)
        return found.account_id if found else None

    async def key_lookup(self, key_hash: str, touch_every: timedelta) -> SecretOwner | None:
        """The owner of a live key, by the hash of its secret; the key's ``last_used_at`` is
        refreshed now and then (not on every lookup: a busy program would otherwise write on
        every read)."""
        t = api_keys
        async with self.db.read() as conn:
            row = (await conn.execute(
                select(t.c.id, t.c.account_id, t.c.last_used_at, t.c.revoked_at)
                .where(t.c.key_hash == key_hash)
            )).first()
            if row is None or row.revoked_at is not None:
                return None
            account_id = await live_account(conn, row.account_id)
        now = utcnow()
        if row.last_used_at is None or as_utc(row.last_used_at) + touch_every <= now:
            async with self.db.write() as conn:
                await conn.execute(update(t).where(t.c.id == row.id).values(last_used_at=now))
        return SecretOwner(account_id, row.account_id, datetime.max.replace(tzinfo=UTC))
