"""The card checkout through Stripe: a Checkout Session per purchase, refunds, and the
verification of Stripe's webhook signatures.

``STATIONTHIS_STRIPE_API_URL`` is the API base (tests point it at a local fake). The
signature check follows Stripe's scheme: the ``Stripe-Signature`` header is
``t=<unix time>,v1=<hex>[,v1=<hex>…]``; each ``v1`` is HMAC-SHA256 of ``"<t>.<raw body>"``
with the endpoint's signing secret; a timestamp more than ``TOLERANCE`` seconds away from now
is refused (a replayed old delivery), and signatures are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import stripe

from stationthis.config import Settings
from stationthis.core.errors import EngineFailed, InvalidInput, StationError
from stationthis.core.purchases import Purchase

TOLERANCE = 300  # seconds
SIGNATURE_HEADER = "Stripe-Signature"


class BadSignature(InvalidInput):
    code = "bad_signature"


class PaymentProviderFailed(EngineFailed):
    code = "payment_provider_failed"


def verify_signature(body: bytes, header: str | None, secret: str, *,
                     now: float | None = None, tolerance: int = TOLERANCE) -> None:
    """Raises BadSignature unless ``header`` signs ``body`` with ``secret`` recently."""
    if not header:
        raise BadSignature(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise BadSignature("the signature's timestamp is not a number") from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise BadSignature(f"the {SIGNATURE_HEADER} header has no t= or no v1= part")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise BadSignature("the signature is too old (or from the future): refused as a replay")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in signatures):
        raise BadSignature("the signature does not match the body")


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value for ``body`` (what Stripe sends; for tests)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


class StripeCheckout:
    """Checkout Sessions and refunds through the ``stripe`` library."""

    channel = "stripe"

    def __init__(self, settings: Settings) -> None:
        if settings.stripe_secret_key is None:
            raise ValueError("STATIONTHIS_STRIPE_SECRET_KEY is not set")
        self.public_url = (settings.public_url or "").rstrip("/")
        self.http = stripe.HTTPXClient(timeout=30)
        self.client = stripe.StripeClient(
            settings.stripe_secret_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_url.rstrip("/")},
            http_client=self.http, max_network_retries=2,
        )

    async def create_session(self, purchase: Purchase, description: str) -> tuple[str, str]:
        """A Checkout Session for the purchase: (session id, the URL to send the buyer to)."""
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": {
                "currency": purchase.currency.lower(), "unit_amount": purchase.amount,
                "product_data": {"name": description[:250]},
            }}],
            "client_reference_id": purchase.id,
            "metadata": {"purchase_id": purchase.id},
            "payment_intent_data": {"metadata": {"purchase_id": purchase.id}},
            "success_url": f"{self.public_url}/buy/done?purchase={purchase.id}",
            "cancel_url": f"{self.public_url}/buy?cancelled={purchase.id}",
        }
        try:
            session = await self.client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"checkout-{purchase.id}"},
            )
        except stripe.StripeError as exc:
            raise PaymentProviderFailed(
                f"The card checkout is not available right now ({_reason(exc)}); "
                "nothing was charged. Try again in a moment.") from None
        if not session.url:
            raise PaymentProviderFailed("Stripe answered without a checkout page")
        return str(session.id), str(session.url)

    async def refund(self, purchase: Purchase) -> int:
        """Refund the whole payment; returns the amount refunded."""
        if not purchase.provider_payment_id:
            raise InvalidInput(f"purchase {purchase.id} has no Stripe payment to refund")
        try:
            refund = await self.client.v1.refunds.create_async(
                {"payment_intent": purchase.provider_payment_id},
                {"idempotency_key": f"refund-{purchase.id}"},
            )
        except stripe.StripeError as exc:
            raise StationError(f"Stripe refused the refund: {_reason(exc)}") from None
        if refund.status not in ("succeeded", "pending"):
            raise StationError(f"Stripe's refund is {refund.status}")
        return int(refund.amount)

    async def aclose(self) -> None:
        await self.http.close_async()  # type: ignore[no-untyped-call]


def _reason(exc: Exception) -> str:
    message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    return str(message)[:200]
