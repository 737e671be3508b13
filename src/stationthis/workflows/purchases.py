"""Buying points: the packages on sale per channel (with what each buys), starting a purchase,
the provider's confirmations, refunds and chargebacks, and the receipts.

Platforms drive it: Telegram sends a Stars invoice for ``start(..., "telegram")`` and reports
``successful_payment`` to ``fulfil``; the web opens a Stripe Checkout Session for
``start(..., "stripe")`` and its signed webhook calls ``fulfil`` / ``failed`` / ``refunded``.
Fulfilment never comes from a browser.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from stationthis.config import PackageSettings
from stationthis.core.errors import Conflict, Forbidden, InvalidInput, NotFound, StationError
from stationthis.core.points import Ledger
from stationthis.core.purchases import CHANNELS, PaymentProvider, Purchase, PurchaseStore, money
from stationthis.core.refunds import ClawBack, claw_back
from stationthis.core.tools import ToolRegistry
from stationthis.core.users import Account, Users
from stationthis.workflows.settings import preferred_tool

log = logging.getLogger(__name__)
ESTIMATE_SIDE = 512
NOT_FOR_SALE = "Buying points is not set up on this server: ask its operator for points."


@dataclass(frozen=True)
class Offer:
    """A package as shown to a buyer on one channel."""

    name: str
    points: int  # bonus included
    bonus: int
    amount: int  # Stars, or minor units
    currency: str  # XTR for Stars
    images: int | None  # ≈ images of the default tool at 512×512 (None: no estimate)

    @property
    def price(self) -> str:
        return money(self.amount, self.currency)

    @property
    def buys(self) -> str:
        if not self.images:
            return ""
        return f"≈ {self.images:,} images at {ESTIMATE_SIDE}²"

    @property
    def line(self) -> str:
        bonus = f" (+{self.bonus:,} bonus)" if self.bonus else ""
        buys = f" · {self.buys}" if self.images else ""
        return f"{self.name}: {self.points:,} points{bonus} for {self.price}{buys}"


class Purchases:
    def __init__(self, store: PurchaseStore, ledger: Ledger, users: Users, tools: ToolRegistry,
                 packages: Sequence[PackageSettings], *, card: bool = False) -> None:
        self.store = store
        self.ledger = ledger
        self.users = users
        self.tools = tools
        self.packages = list(packages)
        self.card = card  # the card checkout is configured (Stripe keys and a public URL)

    # ----- what is for sale --------------------------------------------------------------

    def channels(self) -> list[str]:
        return [c for c in CHANNELS if self.offers(c)]

    def offers(self, channel: str) -> list[Offer]:
        """The packages a buyer can pay on ``channel`` (telegram: Stars; stripe: a card)."""
        estimate = self.image_points()
        found = []
        for p in self.packages:
            amount, currency = _price(p, channel)
            if amount is None or (channel == "stripe" and not self.card):
                continue
            found.append(Offer(p.name, p.total_points, p.bonus, amount, currency,
                               p.total_points // estimate if estimate else None))
        return found

    def offer(self, name: str, channel: str) -> Offer:
        for o in self.offers(channel):
            if o.name.lower() == name.strip().lower():
                return o
        if not self.offers(channel):
            raise NotFound(NOT_FOR_SALE if not self.packages else
                           f"No package can be paid {_by(channel)} here.")
        names = ", ".join(o.name for o in self.offers(channel))
        raise NotFound(f"There is no package {name!r} (any more). On sale: {names}.")

    def image_points(self) -> int | None:
        """The live price of one image of the default tool at 512×512 (None: unknown)."""
        try:
            tool = preferred_tool(self.tools)
            options: dict[str, object] = {"prompt": "an estimate"}
            options.update({k: ESTIMATE_SIDE for k in ("width", "height") if k in tool.inputs})
            if "batch" in tool.inputs:
                options["batch"] = 1
            price = tool.price(tool.resolve(options))
        except StationError:
            return None
        return price if price > 0 else None

    # ----- buying ------------------------------------------------------------------------

    async def start(self, user: Account, package: str, channel: str, *,
                    payer_ref: str | None = None) -> tuple[Purchase, Offer]:
        """A pending purchase of ``package`` on ``channel``; the platform then asks the
        provider for the money (an invoice, a checkout page)."""
        await self._not_banned(user)
        offer = self.offer(package, channel)
        purchase = await self.store.create(user.id, channel, offer.name, offer.points,
                                           offer.amount, offer.currency, payer_ref=payer_ref)
        return purchase, offer

    async def check_payable(self, purchase_id: str, amount: int, currency: str) -> None:
        """Before the money moves (Telegram's pre-checkout query): the purchase is pending,
        its package is still on sale at that price, and the buyer is not banned. Raises
        StationError with the reason to show."""
        try:
            purchase = await self.store.get(purchase_id)
        except NotFound:
            raise NotFound("This invoice is not ours (any more): send /buy again.") from None
        if purchase.status != "pending":
            raise Conflict("This invoice was already used: send /buy for a new one.")
        offer = self.offer(purchase.package, purchase.channel)
        if (offer.amount, offer.currency, offer.points) != (
                purchase.amount, purchase.currency, purchase.points) or (
                amount, currency.upper()) != (purchase.amount, purchase.currency):
            raise Conflict("This package changed since the invoice was sent: send /buy again.")
        await self._not_banned(await self.users.get(purchase.account_id))

    async def fulfil(self, purchase_id: str, payment_id: str, *, amount: int,
                     currency: str) -> tuple[Purchase, bool]:
        """The provider confirmed the payment: the points are granted once per payment id.
        A second, different payment of the same purchase (an invoice paid twice) is money
        received all the same: it becomes a purchase of its own."""
        first = await self.store.get(purchase_id)
        if first.provider_payment_id not in (None, payment_id):
            existing = await self.store.find(payment_id=payment_id)
            if existing is not None:
                purchase_id = existing.id
            else:
                purchase_id = (await self.store.create(
                    first.account_id, first.channel, first.package, first.points,
                    first.amount, first.currency, payer_ref=first.payer_ref)).id
        purchase, granted = await self.store.fulfil(purchase_id, payment_id, amount=amount,
                                                    currency=currency)
        if granted:
            log.info("purchase %s paid (%s %s): %s points", purchase.id, purchase.channel,
                     payment_id, purchase.points)
        return purchase, granted

    # ----- by id, for the provider's callbacks and the operator (no owner check: the id
    # comes from a signed webhook, a payment the provider reports, or an admin) -----------

    async def get(self, purchase_id: str) -> Purchase:
        return await self.store.get(purchase_id)

    async def find(self, *, checkout_id: str | None = None,
                   payment_id: str | None = None) -> Purchase | None:
        """The purchase of a checkout session or of a provider's payment id, if any."""
        return await self.store.find(checkout_id=checkout_id, payment_id=payment_id)

    async def attach_checkout(self, purchase_id: str, checkout_id: str) -> None:
        """Remember the provider's checkout session of a purchase (to find it by it)."""
        await self.store.set_checkout(purchase_id, checkout_id)

    async def list_all(self, account_id: str | None = None, *, status: str | None = None,
                       limit: int = 100) -> list[Purchase]:
        """Every purchase (an account's and its linked accounts'), newest first."""
        return await self.store.list_all(account_id, status=status, limit=limit)

    async def event_handled(self, provider: str, event_id: str) -> bool:
        """Whether the provider's webhook event was handled already (a redelivery)."""
        return await self.store.handled(provider, event_id)

    async def record_event(self, provider: str, event_id: str, kind: str) -> None:
        await self.store.record_event(provider, event_id, kind)

    async def failed(self, purchase_id: str, note: str) -> Purchase:
        return await self.store.fail(purchase_id, note)

    async def refunded(self, purchase_id: str, refunded_amount: int, *,
                       status: str = "refunded", note: str = "") -> ClawBack:
        """The provider refunded ``refunded_amount`` (in total) or a chargeback took it:
        the matching points are taken back, once."""
        done = await claw_back(self.store.db, self.ledger, purchase_id,
                               refunded_amount=refunded_amount, status=status, note=note)
        if done.points:
            log.info("purchase %s %s: %s points taken back (credit now %s)", purchase_id,
                     status, done.points, done.credit_after)
        return done

    async def refund(self, purchase_id: str, provider: PaymentProvider) -> ClawBack:
        """The operator refunds a purchase: the provider gives the money back, then the
        points are taken back (a negative purchased balance if they were spent)."""
        purchase = await self.store.get(purchase_id)
        if purchase.status == "refunded" and purchase.refunded_amount >= purchase.amount:
            raise Conflict(f"purchase {purchase.id} was already refunded")
        if purchase.status not in ("paid", "refunded"):
            raise Conflict(f"purchase {purchase.id} is {purchase.status}: only a paid purchase "
                           "can be refunded")
        if provider.channel != purchase.channel:
            raise InvalidInput(f"purchase {purchase.id} was paid {_by(purchase.channel)}")
        refunded = await provider.refund(purchase)
        return await self.refunded(purchase.id, refunded, note="refunded by the operator")

    # ----- receipts ----------------------------------------------------------------------

    async def history(self, user: Account, limit: int = 50) -> list[Purchase]:
        return await self.store.list_for(user.id, limit)

    async def get_own(self, user: Account, purchase_id: str) -> Purchase:
        """One of the user's purchases (someone else's does not exist for them)."""
        purchase = await self.store.get(purchase_id)
        if purchase.account_id not in await self.store.family(user.id):
            raise NotFound("no such purchase")
        return purchase

    async def _not_banned(self, user: Account) -> None:
        if (await self.users.get(user.id)).banned:
            raise Forbidden("This account is blocked: it cannot buy points.")


def _price(package: PackageSettings, channel: str) -> tuple[int | None, str]:
    if channel == "telegram":
        return package.stars, "XTR"
    if channel == "stripe":
        return package.price, package.currency.upper()
    return None, ""


def _by(channel: str) -> str:
    return {"telegram": "with Telegram Stars", "stripe": "by card"}.get(channel, channel)
