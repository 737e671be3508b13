"""What a (verified) Stripe event means for our purchases.

    checkout.session.completed            paid → the points (an async method: wait)
    checkout.session.async_payment_succeeded   the points
    checkout.session.async_payment_failed / expired   failed (nothing granted)
    charge.refunded                       the refunded part's points taken back
    charge.dispute.created                a chargeback: every point taken back

Every effect is idempotent (the payment id keys the grant; the refunded total keys the
take-back), so a duplicate or late event changes nothing. An event that cannot be applied
yet (a refund of a payment whose completion has not arrived) raises ``NotPaidYet``: the
webhook answers 409 and Stripe delivers it again later.
"""

from __future__ import annotations

import logging
from typing import Any

from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.purchases import Purchase
from stationthis.core.refunds import NotPaidYet
from stationthis.workflows.purchases import Purchases

log = logging.getLogger(__name__)
PAID = ("paid", "no_payment_required")


async def handle_event(purchases: Purchases, event: dict[str, Any]) -> str:
    """Apply one event; returns a word for the log and the answer ("ignored", …)."""
    kind = str(event.get("type"))
    obj = event.get("data", {}).get("object")
    if not isinstance(obj, dict):
        raise InvalidInput("the event has no data.object")
    if kind.startswith("checkout.session."):
        return await _session(purchases, kind, obj)
    if kind == "charge.refunded":
        return await _refunded(purchases, obj)
    if kind == "charge.dispute.created":
        return await _disputed(purchases, obj)
    return "ignored"


async def _session(purchases: Purchases, kind: str, session: dict[str, Any]) -> str:
    purchase = await _of_session(purchases, session)
    if purchase is None:
        return "ignored"  # not one of ours (another product on the same Stripe account)
    if purchase.checkout_id is None and isinstance(session.get("id"), str):
        await purchases.attach_checkout(purchase.id, session["id"])
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if session.get("payment_status") not in PAID:
            return "waiting"  # a delayed payment method: async_payment_* follows
        payment = _id(session.get("payment_intent")) or str(session.get("id"))
        amount, currency = session.get("amount_total"), session.get("currency")
        if not isinstance(amount, int) or not isinstance(currency, str):
            raise InvalidInput("the session has no amount_total or currency")
        _, granted = await purchases.fulfil(purchase.id, payment, amount=amount,
                                            currency=currency)
        return "granted" if granted else "already granted"
    if kind == "checkout.session.async_payment_failed":
        await purchases.failed(purchase.id, "the payment failed")
        return "failed"
    if kind == "checkout.session.expired":
        await purchases.failed(purchase.id, "the checkout page expired unpaid")
        return "expired"
    return "ignored"


async def _refunded(purchases: Purchases, charge: dict[str, Any]) -> str:
    purchase = await _of_payment(purchases, charge)
    if purchase is None:
        return "ignored"
    refunded = charge.get("amount_refunded")
    if not isinstance(refunded, int):
        raise InvalidInput("the charge has no amount_refunded")
    done = await purchases.refunded(purchase.id, refunded, note="refunded through Stripe")
    return f"took back {done.points}"


async def _disputed(purchases: Purchases, dispute: dict[str, Any]) -> str:
    purchase = await _of_payment(purchases, dispute)
    if purchase is None:
        return "ignored"
    amount = dispute.get("amount")
    done = await purchases.refunded(
        purchase.id, amount if isinstance(amount, int) else purchase.amount,
        status="disputed", note=f"chargeback ({dispute.get('reason') or 'disputed'})")
    return f"took back {done.points}"


async def _of_session(purchases: Purchases, session: dict[str, Any]) -> Purchase | None:
    metadata = _dict(session.get("metadata"))
    for candidate in (metadata.get("purchase_id"), session.get("client_reference_id")):
        if isinstance(candidate, str) and candidate:
            try:
                return await purchases.get(candidate)
            except NotFound:
                continue
    session_id = session.get("id")
    return await purchases.find(checkout_id=session_id) if isinstance(
        session_id, str) else None


async def _of_payment(purchases: Purchases, obj: dict[str, Any]) -> Purchase | None:
    """The purchase of a charge or dispute: by its PaymentIntent, else by our id in the
    metadata (then it may not be paid yet: NotPaidYet lets Stripe retry later)."""
    payment = _id(obj.get("payment_intent"))
    if payment:
        found = await purchases.find(payment_id=payment)
        if found is not None:
            return found
    metadata = _dict(obj.get("metadata"))
    purchase_id = metadata.get("purchase_id")
    if isinstance(purchase_id, str) and purchase_id:
        try:
            purchase = await purchases.get(purchase_id)
        except NotFound:
            return None
        if purchase.status == "pending":
            raise NotPaidYet(f"purchase {purchase.id} is not paid yet: try again later")
        return purchase
    log.info("stripe: no purchase for payment %s: ignored", payment)
    return None


def _id(value: Any) -> str | None:
    """An id that Stripe sends as a string, or as an expanded object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
