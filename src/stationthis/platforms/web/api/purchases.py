"""Buying points on the web: the packages, a card checkout per purchase (Stripe Checkout),
the receipts, and Stripe's webhook — the only thing that ever grants a card purchase."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from stationthis.core.errors import InvalidInput, StationError
from stationthis.core.purchases import Purchase, money
from stationthis.core.users import Account
from stationthis.platforms.web.auth import current_account, station
from stationthis.platforms.web.errors import documented, error_response
from stationthis.platforms.web.stripe_checkout import (
    SIGNATURE_HEADER,
    StripeCheckout,
    verify_signature,
)
from stationthis.platforms.web.stripe_events import handle_event
from stationthis.workflows.purchases import NOT_FOR_SALE, Offer
from stationthis.workflows.services import Services

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["purchases"])
_AUTH = (401, 403)
MAX_WEBHOOK_BODY = 1_000_000


class PackageOut(BaseModel):
    name: str
    points: int = Field(description="points it gives, bonus included")
    bonus: int
    price: int = Field(description="in the currency's minor units (cents)")
    currency: str
    price_text: str = Field(description='e.g. "5.00 USD"')
    buys: str = Field(description='what it buys at today\'s prices, e.g. "≈ 80 images at 512²"')


class Packages(BaseModel):
    packages: list[PackageOut]
    card: bool = Field(description="whether the card checkout is set up here")
    message: str | None = Field(None, description="why nothing is for sale, when it is not")


class NewPurchase(BaseModel):
    package: str = Field(max_length=64, description="a package's name (GET /api/v1/packages)")


class PurchaseOut(BaseModel):
    id: str
    channel: str = Field(description="telegram | stripe")
    package: str
    points: int
    amount: int = Field(description="paid, in minor units (cents) or Stars")
    currency: str = Field(description="XTR = Telegram Stars")
    amount_text: str
    status: str = Field(description="pending | paid | failed | refunded | disputed")
    refunded_points: int
    created_at: datetime
    paid_at: datetime | None


class Checkout(PurchaseOut):
    checkout_url: str = Field(description="send the buyer here to pay (Stripe Checkout)")


class Received(BaseModel):
    received: bool = True
    result: str = Field(description="what the event did: granted, already granted, ignored, …")


@router.get("/packages", response_model=Packages)
async def packages(request: Request) -> Packages:
    """The packages of points for sale by card, with what each buys at today's prices."""
    shop = station(request).purchases
    offers = shop.offers("stripe")
    message = None
    if not offers:
        message = NOT_FOR_SALE if not shop.packages else "Points are sold on Telegram here " \
            "(/buy to the bot); the card checkout is not set up."
    return Packages(packages=[_package(o) for o in offers], card=shop.card, message=message)


@router.post("/purchases", status_code=201, response_model=Checkout,
             responses=documented(*_AUTH, 400, 404, 422, 502))
async def buy(body: NewPurchase, request: Request,
              account: Account = Depends(current_account)) -> Checkout:
    """Start buying a package by card: a pending purchase and the Stripe Checkout page to
    send the buyer to. The points come when Stripe confirms the payment (its webhook)."""
    app = station(request)
    purchase, url = await start_checkout(app, request, account, body.package)
    return Checkout(**_purchase(purchase).model_dump(), checkout_url=url)


@router.get("/purchases", response_model=list[PurchaseOut], responses=documented(*_AUTH, 422))
async def receipts(request: Request, account: Account = Depends(current_account),
                   limit: int = Query(50, ge=1, le=500)) -> list[PurchaseOut]:
    """Your purchases, newest first, on every platform (linked accounts included)."""
    return [_purchase(p) for p in await station(request).purchases.history(account, limit)]


@router.get("/purchases/{purchase_id}", response_model=PurchaseOut,
            responses=documented(*_AUTH, 404))
async def receipt(purchase_id: str, request: Request,
                  account: Account = Depends(current_account)) -> PurchaseOut:
    """One purchase: ``pending`` until the payment is confirmed, then ``paid``."""
    return _purchase(await station(request).purchases.get_own(account, purchase_id))


@router.post("/webhooks/stripe", response_model=Received, tags=["webhooks"],
             responses=documented(400, 404, 409, 413))
async def stripe_webhook(request: Request) -> JSONResponse:
    """Stripe's events, signed with the endpoint's secret (``Stripe-Signature``): a forged,
    stale or malformed delivery is refused with 400 and changes nothing; a delivery seen
    before is answered and changes nothing; 409 asks Stripe to deliver it again later."""
    app = station(request)
    secret = app.settings.stripe_webhook_secret
    if secret is None:
        return error_response(404, "not_found", "the card checkout is not set up here")
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BODY:
        return error_response(413, "too_large", "a webhook body is at most 1 MB")
    verify_signature(body, request.headers.get(SIGNATURE_HEADER), secret.get_secret_value())
    try:
        event = json.loads(body)
    except ValueError:
        raise InvalidInput("the body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(
            event.get("type"), str):
        raise InvalidInput("not a Stripe event (no id or type)")
    if await app.purchases.event_handled("stripe", event["id"]):
        return JSONResponse(Received(result="already handled").model_dump())
    try:
        result = await handle_event(app.purchases, event)
    except InvalidInput as exc:  # signed by Stripe, but not something we can apply
        log.warning("stripe event %s (%s) refused: %s", event["id"], event["type"], exc)
        result = f"refused: {exc.message}"
    await app.purchases.record_event("stripe", event["id"], event["type"])
    log.info("stripe event %s (%s): %s", event["id"], event["type"], result)
    return JSONResponse(Received(result=result).model_dump())


async def start_checkout(app: Services, request: Request, account: Account,
                         package: str) -> tuple[Purchase, str]:
    """A pending purchase and its Checkout Session (shared by the API and the Buy page)."""
    purchase, offer = await app.purchases.start(account, package, "stripe")
    checkout = checkout_client(request)
    session_id, url = await checkout.create_session(
        purchase, f"{offer.points:,} StationThis points ({offer.name})")
    await app.purchases.attach_checkout(purchase.id, session_id)
    return purchase, url


def checkout_client(request: Request) -> StripeCheckout:
    """One Stripe client per web app, made when first needed."""
    state = request.app.state
    client: StripeCheckout | None = getattr(state, "stripe_checkout", None)
    if client is None:
        app = station(request)
        if not app.purchases.card:
            raise StationError("the card checkout is not set up here")
        client = StripeCheckout(app.settings)
        state.stripe_checkout = client
    return client


def _package(offer: Offer) -> PackageOut:
    return PackageOut(name=offer.name, points=offer.points, bonus=offer.bonus,
                      price=offer.amount, currency=offer.currency, price_text=offer.price,
                      buys=offer.buys)


def _purchase(p: Purchase) -> PurchaseOut:
    return PurchaseOut(id=p.id, channel=p.channel, package=p.package, points=p.points,
                       amount=p.amount, currency=p.currency,
                       amount_text=money(p.amount, p.currency), status=p.status,
                       refunded_points=p.refunded_points, created_at=p.created_at,
                       paid_at=p.paid_at)
