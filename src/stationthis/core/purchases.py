"""Purchases of points: a row per attempt to buy a package, on Telegram (Stars) or the web
(a card through Stripe Checkout).

    create()            pending    the user chose a package; the provider has not been paid
    fulfil(payment id)  paid       the provider confirmed the money: a ``purchase`` ledger row
                                   keyed by the provider's payment id (so exactly once)
    fail(note)          failed     the payment did not go through (nothing was granted)
    refunds             refunded | disputed   (core/refunds.py: ``refund`` ledger rows)

Fulfilment comes only from the provider's own word (a signed webhook, Telegram's
``successful_payment``), never from a browser. Everything is in the database, so any web
node may receive any webhook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.db import Database, as_utc, new_id, utcnow
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.points import Ledger, live_account
from stationthis.core.schema import accounts, payment_events, purchases

log = logging.getLogger(__name__)
CHANNELS = ("telegram", "stripe")
STATUSES = ("pending", "paid", "failed", "refunded", "disputed")
PAID = ("paid", "refunded", "disputed")  # money was received at some point


@dataclass(frozen=True)
class Purchase:
    id: str
    account_id: str
    channel: str
    package: str
    points: int
    amount: int  # minor units (cents), or Stars
    currency: str
    status: str
    provider_payment_id: str | None
    checkout_id: str | None
    payer_ref: str | None
    refunded_points: int
    refunded_amount: int
    note: str | None
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None

    @property
    def ledger_key(self) -> str:
        """The idempotency key of the purchase's ledger row (the provider's payment id)."""
        return purchase_key(self.channel, self.provider_payment_id or "")


def purchase_key(channel: str, payment_id: str) -> str:
    return f"purchase:{channel}:{payment_id}"


class PaymentProvider(Protocol):
    """Where the money is (Stripe, Telegram Stars): what the operator's refund calls."""

    channel: str

    async def refund(self, purchase: Purchase) -> int:
        """Refund the whole payment at the provider; returns the amount refunded in total
        (minor units, or Stars). Raises StationError with a clear message when refused."""
        ...


class PurchaseStore:
    def __init__(self, db: Database, ledger: Ledger,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.ledger = ledger
        self.clock = clock

    # ----- creating and reading ------------------------------------------------------------

    async def create(self, account_id: str, channel: str, package: str, points: int,
                     amount: int, currency: str, *, payer_ref: str | None = None) -> Purchase:
        if channel not in CHANNELS:
            raise InvalidInput(f"unknown payment channel {channel!r}")
        if points <= 0 or amount <= 0:
            raise InvalidInput("a package must cost something and give points")
        purchase_id, now = new_id(), self.clock()
        async with self.db.write() as conn:
            await conn.execute(insert(purchases).values(
                id=purchase_id, account_id=account_id, channel=channel, package=package,
                points=points, amount=amount, currency=currency.upper(), status="pending",
                payer_ref=payer_ref, refunded_points=0, refunded_amount=0,
                created_at=now, updated_at=now,
            ))
        return await self.get(purchase_id)

    async def get(self, purchase_id: str) -> Purchase:
        async with self.db.read() as conn:
            row = (await conn.execute(
                select(purchases).where(purchases.c.id == purchase_id))).first()
        if row is None:
            raise NotFound("no such purchase")
        return _purchase(row)

    async def find(self, *, checkout_id: str | None = None,
                   payment_id: str | None = None) -> Purchase | None:
        if checkout_id is None and payment_id is None:
            return None
        query = select(purchases)
        if checkout_id is not None:
            query = query.where(purchases.c.checkout_id == checkout_id)
        if payment_id is not None:
            query = query.where(purchases.c.provider_payment_id == payment_id)
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        return _purchase(row) if row is not None else None

    async def family(self, account_id: str) -> list[str]:
        """The account and the accounts linked into it: whose purchases it sees."""
        async with self.db.read() as conn:
            return await _merged_family(conn, account_id)

    async def set_checkout(self, purchase_id: str, checkout_id: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(purchases).where(purchases.c.id == purchase_id).values(
                checkout_id=checkout_id, updated_at=self.clock()))

    async def list_for(self, account_id: str, limit: int = 50) -> list[Purchase]:
        """An account's purchases, newest first — also those made by accounts that were
        since linked into it."""
        async with self.db.read() as conn:
            ids = await _merged_family(conn, account_id)
            rows = (await conn.execute(
                select(purchases).where(purchases.c.account_id.in_(ids))
                .order_by(purchases.c.created_at.desc(), purchases.c.id).limit(limit))).all()
        return [_purchase(r) for r in rows]

    async def list_all(self, account_id: str | None = None, *, status: str | None = None,
                       limit: int = 100) -> list[Purchase]:
        query = select(purchases)
        async with self.db.read() as conn:
            if account_id is not None:
                query = query.where(
                    purchases.c.account_id.in_(await _merged_family(conn, account_id)))
            if status is not None:
                query = query.where(purchases.c.status == status)
            rows = (await conn.execute(
                query.order_by(purchases.c.created_at.desc(), purchases.c.id).limit(limit)
            )).all()
        return [_purchase(r) for r in rows]

    # ----- the provider's word -------------------------------------------------------------

    async def fulfil(self, purchase_id: str, payment_id: str, *, amount: int,
                     currency: str) -> tuple[Purchase, bool]:
        """The provider says ``payment_id`` paid this purchase: grant its points once.
        Returns the purchase and whether points were granted now (False: already were)."""
        purchase = await self.get(purchase_id)
        if purchase.provider_payment_id not in (None, payment_id):
            raise InvalidInput(f"purchase {purchase.id} was already paid by another payment")
        if amount != purchase.amount or currency.upper() != purchase.currency:
            note = (f"paid {amount} {currency.upper()} but the package costs "
                    f"{purchase.amount} {purchase.currency}: nothing granted")
            log.warning("purchase %s: %s", purchase.id, note)
            await self.fail(purchase.id, note)
            raise InvalidInput(note)
        async with self.db.read() as conn:
            account_id = await live_account(conn, purchase.account_id)
        granted = await self.ledger.grant(
            account_id, purchase.points, key=purchase_key(purchase.channel, payment_id),
            kind="purchase",
            memo=f"bought {purchase.package} ({purchase.channel}, "
                 f"{_money(purchase.amount, purchase.currency)})",
        )
        now = self.clock()
        async with self.db.write() as conn:
            await conn.execute(update(purchases).where(
                purchases.c.id == purchase.id, purchases.c.status.in_(("pending", "failed")),
            ).values(status="paid", provider_payment_id=payment_id, paid_at=now,
                     updated_at=now, note=None))
        return await self.get(purchase.id), granted

    async def fail(self, purchase_id: str, note: str) -> Purchase:
        """The payment did not go through. A purchase that was paid stays paid."""
        async with self.db.write() as conn:
            await conn.execute(update(purchases).where(
                purchases.c.id == purchase_id, purchases.c.status == "pending",
            ).values(status="failed", note=note[:300], updated_at=self.clock()))
        return await self.get(purchase_id)

    async def handled(self, provider: str, event_id: str) -> bool:
        """Whether the provider's event ``event_id`` was already handled."""
        async with self.db.read() as conn:
            found = await conn.execute(select(payment_events.c.event_id).where(
                payment_events.c.provider == provider, payment_events.c.event_id == event_id))
            return found.first() is not None

    async def record_event(self, provider: str, event_id: str, kind: str) -> None:
        """Remember a handled event (a second delivery of it changes nothing)."""
        try:
            async with self.db.write() as conn:
                await conn.execute(insert(payment_events).values(
                    provider=provider, event_id=event_id[:200], type=kind[:64],
                    created_at=self.clock()))
        except IntegrityError:
            pass  # another node handled the same delivery at the same time


async def _merged_family(conn: AsyncConnection, account_id: str) -> list[str]:
    """The account and every account merged into it (directly or through others)."""
    found, frontier = {account_id}, [account_id]
    while frontier:
        rows = (await conn.execute(
            select(accounts.c.id).where(accounts.c.merged_into.in_(frontier)))).scalars().all()
        frontier = [r for r in rows if r not in found]
        found.update(frontier)
    return sorted(found)


# Stripe's currencies whose amounts have no minor unit.
ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX",
                "VND", "VUV", "XAF", "XOF", "XPF"}


def _money(amount: int, currency: str) -> str:
    code = currency.upper()
    if code == "XTR":
        return f"{amount} Stars"
    if code in ZERO_DECIMAL:
        return f"{amount} {code}"
    return f"{amount / 100:.2f} {code}"


def money(amount: int, currency: str) -> str:
    """An amount for people: "5.00 USD", "250 Stars"."""
    return _money(amount, currency)


def _purchase(row) -> Purchase:  # type: ignore[no-untyped-def]
    return Purchase(
        id=row.id, account_id=row.account_id, channel=row.channel, package=row.package,
        points=int(row.points), amount=int(row.amount), currency=row.currency,
        status=row.status, provider_payment_id=row.provider_payment_id,
        checkout_id=row.checkout_id, payer_ref=row.payer_ref,
        refunded_points=int(row.refunded_points), refunded_amount=int(row.refunded_amount),
        note=row.note, created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
        paid_at=as_utc(row.paid_at) if row.paid_at is not None else None,
    )
