"""Purchases and refunds on the ledger, on SQLite and PostgreSQL: a payment is granted once
whatever repeats it, a refund is taken back once, a refund of points already spent leaves a
negative purchased balance that refuses new paid jobs until a purchase repays it, and the
free allowance is never taken back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import Conflict, InsufficientPoints, NotFound
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import ScriptedEngine

PACKAGES = [{"name": "small", "points": 1000, "stars": 50, "price": 500},
            {"name": "big", "points": 5000, "bonus": 500, "stars": 200, "price": 2000,
             "currency": "eur"}]

CARD = {"stripe_secret_key": "sk_test_unused", "stripe_webhook_secret": "whsec_unused",
        "public_url": "http://127.0.0.1:9", "secret_key": "purchase-tests-0123456789-abcdefgh"}


@pytest.fixture
async def app(make_settings: Callable[..., Settings], db_url: str) -> AsyncIterator[App]:
    settings = make_settings(database_url=db_url, packages=PACKAGES,
                             allowance={"amount": 100}, **CARD)
    app = build(settings, engine=ScriptedEngine())
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def user(app: App, name: str = "alice") -> Account:
    return await app.users.resolve(Identity("test", name))


async def credit(app: App, account: Account) -> int:
    return (await app.ledger.balance(account.id)).credit


async def test_a_payment_is_granted_once_however_often_it_is_reported(app: App) -> None:
    alice = await user(app)
    purchase, _ = await app.purchases.start(alice, "small", "telegram")
    assert (purchase.status, purchase.amount, purchase.currency) == ("pending", 50, "XTR")
    results = await asyncio.gather(*[
        app.purchases.fulfil(purchase.id, "charge-1", amount=50, currency="XTR")
        for _ in range(5)])
    assert sum(granted for _, granted in results) == 1
    assert await credit(app, alice) == 1000
    again, granted = await app.purchases.fulfil(purchase.id, "charge-1", amount=50,
                                                currency="xtr")
    assert not granted and again.status == "paid" and again.provider_payment_id == "charge-1"
    kinds = [e.kind for e in await app.ledger.history(alice.id)]
    assert kinds.count("purchase") == 1
    assert await app.ledger.verify(alice.id)


async def test_a_payment_of_the_wrong_amount_grants_nothing(app: App) -> None:
    alice = await user(app)
    purchase, _ = await app.purchases.start(alice, "big", "stripe")
    assert (purchase.amount, purchase.currency, purchase.points) == (2000, "EUR", 5500)
    with pytest.raises(Exception, match="costs 2000 EUR"):
        await app.purchases.fulfil(purchase.id, "pi_1", amount=1, currency="eur")
    assert await credit(app, alice) == 0
    assert (await app.purchases.store.get(purchase.id)).status == "failed"


async def test_unknown_packages_and_nothing_for_sale_say_so(
        app: App, make_settings: Callable[..., Settings]) -> None:
    alice = await user(app)
    with pytest.raises(NotFound, match=r"no package 'huge'.*small, big"):
        await app.purchases.start(alice, "huge", "telegram")
    no_card = build(make_settings(packages=PACKAGES), engine=ScriptedEngine())
    with pytest.raises(NotFound, match="by card"):  # no Stripe keys configured there
        no_card.purchases.offer("small", "stripe")
    bare = build(make_settings(), engine=ScriptedEngine())
    with pytest.raises(NotFound, match="not set up on this server"):
        bare.purchases.offer("small", "telegram")


async def test_offers_say_what_they_buy_from_the_live_price(app: App) -> None:
    [small, big] = app.purchases.offers("telegram")
    per_image = app.purchases.image_points()
    assert per_image and small.images == 1000 // per_image
    assert big.points == 5500 and big.bonus == 500
    assert f"≈ {small.images:,} images at 512²" in small.line


async def test_refund_after_spending_blocks_paid_jobs_until_a_purchase_repays(app: App) -> None:
    alice = await user(app)
    purchase, _ = await app.purchases.start(alice, "small", "telegram")
    await app.purchases.fulfil(purchase.id, "charge-2", amount=50, currency="XTR")
    allowance = (await app.ledger.balance(alice.id)).allowance
    # Spend most of the purchased credit (the allowance goes first, then credit).
    spent = 0
    while spent < 800 + allowance:
        job = await app.make_image.make(alice, Request("make", {"prompt": "a fox",
                                                                "width": 1024, "height": 1024}))
        done = await app.jobs.wait(job.id, timeout=10)
        assert done.state == "succeeded"
        spent += done.cost or 0
    left = await credit(app, alice)
    assert left < 1000

    done = await app.purchases.refunded(purchase.id, 50, note="refunded by the operator")
    assert done.points == 1000 and done.credit_after == left - 1000 < 0
    again = await app.purchases.refunded(purchase.id, 50)  # the webhook/event once more
    assert again.points == 0 and await credit(app, alice) == left - 1000
    assert (await app.purchases.store.get(purchase.id)).status == "refunded"
    assert await app.ledger.verify(alice.id)

    with pytest.raises(InsufficientPoints, match=r"purchased balance is −\d+ points after a "
                       r"refund.*buy points"):
        await app.make_image.make(alice, Request("make", {"prompt": "a fox"}))
    assert (await app.ledger.balance(alice.id)).allowance >= 0  # never taken back

    second, _ = await app.purchases.start(alice, "small", "telegram")
    await app.purchases.fulfil(second.id, "charge-3", amount=50, currency="XTR")
    assert await credit(app, alice) == left  # the debt was repaid first
    job = await app.make_image.make(alice, Request("make", {"prompt": "a fox"}))
    assert (await app.jobs.wait(job.id, timeout=10)).state == "succeeded"
    assert await app.ledger.verify(alice.id)


async def test_partial_refunds_and_disputes_take_back_once(app: App) -> None:
    alice = await user(app)
    purchase, _ = await app.purchases.start(alice, "small", "telegram")
    with pytest.raises(Conflict):  # not paid yet: the provider retries later
        await app.purchases.refunded(purchase.id, 50)
    await app.purchases.fulfil(purchase.id, "charge-4", amount=50, currency="XTR")
    assert (await app.purchases.refunded(purchase.id, 10)).points == 200
    assert (await app.purchases.refunded(purchase.id, 5)).points == 0  # an older event
    assert (await app.purchases.refunded(purchase.id, 10, status="disputed")).points == 800
    assert await credit(app, alice) == 0
    assert (await app.purchases.store.get(purchase.id)).status == "disputed"
    kinds = [e.kind for e in await app.ledger.history(alice.id)]
    assert kinds.count("refund") == 2


async def test_purchases_follow_linked_accounts(app: App) -> None:
    alice, web = await user(app), await user(app, "alice-web")
    purchase, _ = await app.purchases.start(alice, "small", "telegram")
    code = await app.users.create_link_code(web.id)
    kept = await app.users.redeem_link_code(code, alice.id)
    assert kept.id == web.id
    await app.purchases.fulfil(purchase.id, "charge-5", amount=50, currency="XTR")
    assert await credit(app, web) == 1000  # the points reach the account in use
    assert [p.id for p in await app.purchases.history(web)] == [purchase.id]
    assert (await app.purchases.get_own(web, purchase.id)).status == "paid"
    with pytest.raises(NotFound):
        await app.purchases.get_own(await user(app, "mallory"), purchase.id)
    done = await app.purchases.refunded(purchase.id, 50)
    assert done.account_id == web.id and await credit(app, web) == 0
