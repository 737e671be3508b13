"""Users, groups and their platform identities; one-time link codes that merge two users."""

from __future__ import annotations

import difflib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.auth import TooManyAttempts
from stationthis.core.collections_sharing import move_collections
from stationthis.core.db import Database, as_utc, new_id, utcnow
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.points import ALLOWANCE, CREDIT, AllowancePolicy, Ledger, live_account
from stationthis.core.schema import (
    accounts,
    datasets,
    identities,
    jobs,
    ledger,
    link_codes,
    media,
    models,
    preferences,
)
from stationthis.core.throttle import Refused, SqlThrottle, Throttle, wait_text

LINK_CODE_TTL = timedelta(minutes=15)
LINK_GUESSES_PER_HOUR = 10  # link codes that do not work, per account
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


_GET = select(accounts).where(accounts.c.id == bindparam("id"))  # built once: a hot read


@dataclass(frozen=True)
class Identity:
    platform: str
    external_id: str

    @classmethod
    def parse(cls, text: str, default_platform: str = "web") -> Identity:
        """``telegram:123`` → (telegram, 123); a bare ``alice`` → (default_platform, alice)."""
        platform, sep, ext = text.partition(":")
        if not sep:
            platform, ext = default_platform, text
        platform, ext = platform.strip().lower(), ext.strip()
        if not platform or not ext or len(ext) > 200 or not platform.isalnum():
            raise InvalidInput(f"not a user: {text!r} (use NAME or PLATFORM:ID)")
        return cls(platform, ext)

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id}"


@dataclass(frozen=True)
class Account:
    id: str
    kind: str  # user | group
    name: str
    banned: bool
    created_at: datetime
    tier: str = "free"


class Users:
    def __init__(
        self, db: Database, ledger_: Ledger, policy: AllowancePolicy, new_user_grant: int = 0,
        *, throttle: Throttle | None = None, link_guesses_per_hour: int = LINK_GUESSES_PER_HOUR,
    ) -> None:
        self.db = db
        self.ledger = ledger_
        self.policy = policy
        self.new_user_grant = new_user_grant
        self.throttle: Throttle = throttle or SqlThrottle(db)
        self.link_guesses_per_hour = link_guesses_per_hour

    async def resolve(
        self, ident: Identity, display_name: str | None = None, *, kind: str = "user"
    ) -> Account:
        """The account behind a platform identity, created on first sight."""
        found = await self._find(ident)
        if found is not None:
            return found
        try:
            async with self.db.write() as conn:
                account_id = await self._create(conn, kind, display_name or ident.external_id)
                await conn.execute(
                    insert(identities).values(
                        account_id=account_id, platform=ident.platform,
                        external_id=ident.external_id, display_name=display_name,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:  # created concurrently by another request
            pass
        found = await self._find(ident)
        assert found is not None
        if self.new_user_grant and found.kind == "user":
            await self.ledger.grant(
                found.id, self.new_user_grant, key=f"welcome:{found.id}", memo="welcome grant"
            )
        return found

    async def find(self, ident: Identity) -> Account | None:
        """The account behind a platform identity; None when there is none (nothing is
        made)."""
        return await self._find(ident)

    async def close_names(self, ident: Identity, n: int = 3) -> list[Identity]:
        """Existing identities of the same platform whose ids look like ``ident``'s (case
        aside): for "did you mean …?". Only ids of about the same length are compared."""
        wanted = ident.external_id.lower()
        async with self.db.read(offload=True) as conn:  # up to 50,000 rows
            rows = (await conn.execute(
                select(identities.c.external_id)
                .where(identities.c.platform == ident.platform,
                       func.length(identities.c.external_id).between(len(wanted) - 3,
                                                                     len(wanted) + 3))
                .limit(50_000)
            )).scalars().all()
        by_lower = {str(r).lower(): str(r) for r in rows}
        found = difflib.get_close_matches(wanted, list(by_lower), n=n, cutoff=0.6)
        return [Identity(ident.platform, by_lower[f]) for f in found]

    async def get(self, account_id: str) -> Account:
        async with self.db.read() as conn:
            row = (await conn.execute(_GET, {"id": account_id})).first()
        if row is None:
            raise NotFound("no such user")
        return _account(row)

    async def identities_of(self, account_id: str) -> list[Identity]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(identities.c.platform, identities.c.external_id)
                .where(identities.c.account_id == account_id)
                .order_by(identities.c.id)
            )
            return [Identity(p, e) for p, e in rows]

    async def set_tier(self, account_id: str, tier: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(tier=tier)
            )

    async def set_banned(self, account_id: str, banned: bool) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(banned=banned)
            )

    # ----- linking -----------------------------------------------------------------------

    async def create_link_code(self, account_id: str) -> str:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        now = utcnow()
        async with self.db.write() as conn:
            await conn.execute(
                insert(link_codes).values(
                    code=code, account_id=account_id, created_at=now,
                    expires_at=now + LINK_CODE_TTL,
                )
            )
        return code

    async def redeem_link_code(self, code: str, account_id: str) -> Account:
        """Merge the redeeming account into the account that showed the code.

        Identities, jobs and media move; purchased credit is transferred through the ledger.
        Codes are 40-bit: an account may enter ``link_guesses_per_hour`` codes that do not
        work an hour (each is counted before it is looked up, atomically); after that every
        code, even a right one, is refused until the hour has passed.
        """
        key = f"link:{account_id}"
        verdict = await self.throttle.hit(key, self.link_guesses_per_hour, 3600)
        if isinstance(verdict, Refused):
            raise TooManyAttempts(
                "too many link codes that did not work: try again in "
                f"{wait_text(verdict.retry_after)}", retry_after=verdict.retry_after)
        counts = False
        try:
            target = await self._redeem(code.strip().upper(), account_id)
        except InvalidInput:
            counts = True  # unknown, used, expired or this account's own code
            raise
        finally:
            if not counts:
                await self.throttle.undo(key)
        return await self.get(target)

    async def _redeem(self, code: str, account_id: str) -> str:
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(link_codes).where(link_codes.c.code == code).with_for_update()
                )
            ).first()
            if row is None or row.used_at is not None:
                raise InvalidInput("that link code is unknown or was already used")
            if as_utc(row.expires_at) < utcnow():
                raise InvalidInput("that link code has expired; ask for a new one")
            target = await live_account(conn, row.account_id)
            if target == await live_account(conn, account_id):
                raise InvalidInput("that code belongs to this same account")
            await conn.execute(
                update(link_codes).where(link_codes.c.code == code).values(used_at=utcnow())
            )
            await self._merge(conn, source=account_id, target=target)
        return target

    async def _merge(self, conn: AsyncConnection, *, source: str, target: str) -> None:
        src = (
            await conn.execute(select(accounts).where(accounts.c.id == source).with_for_update())
        ).one()
        await conn.execute(
            update(identities).where(identities.c.account_id == source).values(account_id=target)
        )
        await conn.execute(update(jobs).where(jobs.c.owner_id == source).values(owner_id=target))
        await conn.execute(update(media).where(media.c.owner_id == source).values(owner_id=target))
        await conn.execute(
            update(datasets).where(datasets.c.owner_id == source).values(owner_id=target)
        )
        await self._merge_models(conn, source, target)
        await move_collections(conn, source, target)
        await self._merge_preferences(conn, source, target)
        await conn.execute(
            update(accounts).where(accounts.c.id == source).values(merged_into=target)
        )
        if src.credit_balance > 0:
            key = f"merge:{source}:{target}"
            for acct, amount in ((source, -src.credit_balance), (target, src.credit_balance)):
                await conn.execute(
                    insert(ledger).values(
                        account_id=acct, kind="transfer", bucket=CREDIT, amount=amount,
                        ref=key, idem_key=f"{key}:{acct}", memo="accounts linked",
                        created_at=utcnow(),
                    )
                )
                await conn.execute(
                    update(accounts)
                    .where(accounts.c.id == acct)
                    .values(credit_balance=accounts.c.credit_balance + amount)
                )

    async def _merge_models(self, conn: AsyncConnection, source: str, target: str) -> None:
        """Trained models move too; a name the target already uses gets a number."""
        taken = {
            str(n).lower()
            for n in (await conn.execute(
                select(models.c.name).where(models.c.owner_id == target)
            )).scalars()
        }
        for model_id, name in (await conn.execute(
            select(models.c.id, models.c.name).where(models.c.owner_id == source)
        )).all():
            unique, number = str(name), 2
            while unique.lower() in taken:
                unique, number = f"{name} {number}", number + 1
            taken.add(unique.lower())
            await conn.execute(
                update(models).where(models.c.id == model_id).values(owner_id=target, name=unique)
            )

    async def _merge_preferences(self, conn: AsyncConnection, source: str, target: str) -> None:
        """Settings move where the target has none of its own for that key."""
        own = set(
            (await conn.execute(
                select(preferences.c.key).where(preferences.c.account_id == target)
            )).scalars()
        )
        await conn.execute(
            update(preferences)
            .where(preferences.c.account_id == source, preferences.c.key.not_in(own))
            .values(account_id=target)
        )
        await conn.execute(delete(preferences).where(preferences.c.account_id == source))

    # ----- internals ---------------------------------------------------------------------

    async def _find(self, ident: Identity) -> Account | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(accounts)
                    .join(identities, identities.c.account_id == accounts.c.id)
                    .where(
                        identities.c.platform == ident.platform,
                        identities.c.external_id == ident.external_id,
                    )
                )
            ).first()
        return _account(row) if row is not None else None

    async def _create(self, conn: AsyncConnection, kind: str, name: str) -> str:
        account_id = new_id()
        now = self.ledger.clock()
        tick = int(now.timestamp()) // self.policy.interval_seconds
        await conn.execute(
            insert(accounts).values(
                id=account_id, kind=kind, name=name[:200], created_at=now,
                allowance_balance=0, credit_balance=0, allowance_tick=tick, banned=False,
                tier="free",
            )
        )
        if kind == "user" and self.policy.amount:
            # A new user starts with the full free allowance.
            await conn.execute(
                insert(ledger).values(
                    account_id=account_id, kind="allowance", bucket=ALLOWANCE,
                    amount=self.policy.amount, idem_key=f"allowance:{account_id}:initial",
                    memo="free allowance", created_at=now,
                )
            )
            await conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(allowance_balance=self.policy.amount)
            )
        return account_id


def _account(row) -> Account:  # type: ignore[no-untyped-def]
    return Account(
        id=row.id, kind=row.kind, name=row.name, banned=bool(row.banned),
        created_at=as_utc(row.created_at), tier=row.tier or "free",
    )
