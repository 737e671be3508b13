"""The Buy page: the packages of points with what each buys, a card checkout per purchase
(Stripe Checkout: the page links to it and static/buy.js follows the link), and the page
Stripe sends the buyer back to, which says "processing" until Stripe's signed webhook has
confirmed the payment (the redirect itself grants nothing).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from stationthis.core.errors import NotFound, StationError
from stationthis.core.users import Account
from stationthis.platforms.web.api.purchases import start_checkout
from stationthis.platforms.web.auth import station
from stationthis.platforms.web.errors import status_of
from stationthis.platforms.web.pages.common import PageRoute, SignedIn, form_of, page, text

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/buy")
async def buy_page(request: Request, account: SignedIn) -> Response:
    cancelled = request.query_params.get("cancelled")
    notice = "The checkout was cancelled: nothing was charged." if cancelled else None
    return await _render(request, account, notice=notice)


@router.post("/buy")
async def buy(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    app = station(request)
    try:
        _, url = await start_checkout(app, request, account, text(form, "package"))
    except StationError as exc:
        return await _render(request, account, status_of(exc), error=exc.message)
    # Not a redirect: the pages' CSP (form-action 'self') forbids a form post that lands on
    # another site. The page links to Stripe's checkout and buy.js follows the link at once.
    return await _render(request, account, checkout_url=url)


@router.get("/buy/done")
async def done(request: Request, account: SignedIn) -> Response:
    """Where Stripe sends the buyer back. The status comes from our database: ``pending``
    ("processing") until the webhook lands; the page asks again by itself (buy.js)."""
    purchase_id = request.query_params.get("purchase", "")
    try:
        purchase = await station(request).purchases.get_own(account, purchase_id)
    except NotFound:
        return page(request, "error.html", 404, message="There is no such purchase.",
                    status=404)
    balance = await station(request).ledger.balance(account.id)
    return page(request, "buy_done.html", purchase=purchase, balance=balance)


async def _render(request: Request, account: Account, status_code: int = 200,
                  **extra: Any) -> Response:
    app = station(request)
    shop = app.purchases
    balance = await app.ledger.balance(account.id)
    context: dict[str, Any] = {
        "offers": shop.offers("stripe"), "telegram": shop.offers("telegram"),
        "configured": bool(shop.packages), "card": shop.card, "balance": balance,
        "purchases": await shop.history(account, 20), "error": None, "notice": None,
        "checkout_url": None,
    }
    context.update(extra)
    return page(request, "buy.html", status_code, **context)
