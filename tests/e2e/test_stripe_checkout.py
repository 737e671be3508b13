"""Buying points by card on the web, against a fake Stripe that serves the API, a checkout
page and signed webhooks — with two web nodes on one database: the checkout starts on one,
Stripe's webhook reaches the other. Points come only from the signed webhook, once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.platforms.web.stripe_checkout import StripeCheckout, sign
from stationthis.workflows.app import App
from tests.support.fake_stripe import FakeStripe
from tests.support.live_web import reserve_port, serve
from tests.support.scripted import ScriptedEngine

PACKAGES = [{"name": "starter", "points": 1000, "price": 500, "currency": "usd"},
            {"name": "studio", "points": 5000, "bonus": 1000, "price": 2000}]
BIG_JOB = {"prompt": "a fox", "width": 1024, "height": 1024, "batch": 4}


@dataclass
class Shop:
    stripe: FakeStripe
    app: App  # node A: serves the user, runs jobs
    other: App  # node B: a web node that receives the webhooks
    url: str
    settings: Settings

    @property
    def session_id(self) -> str:
        return list(self.stripe.sessions)[-1]


@pytest.fixture
async def shop(make_settings: Callable[..., Settings], db_url: str) -> AsyncIterator[Shop]:
    async with FakeStripe() as stripe:
        sock_a, url_a = reserve_port()
        sock_b, _ = reserve_port()
        settings = make_settings(
            database_url=db_url, packages=PACKAGES, allowance={"amount": 100},
            public_url=url_a, stripe_api_url=stripe.url, stripe_secret_key=stripe.api_key,
            stripe_webhook_secret=stripe.webhook_secret,
            secret_key="stripe-e2e-0123456789-abcdefghijklmnopq")
        app = build(settings, engine=ScriptedEngine())
        other = build(settings, role="web", engine=ScriptedEngine())
        async with serve(app, sock_a) as a, serve(other, sock_b) as b:
            stripe.webhook_url = f"{b}/api/v1/webhooks/stripe"
            yield Shop(stripe, app, other, a, settings)


@pytest.fixture
async def alice(shop: Shop) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shop.url, timeout=20) as client:
        answer = await client.post("/api/v1/auth/signup",
                                   json={"username": "alice", "password": "correct horse 1"})
        assert answer.status_code == 201, answer.text
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        yield client


async def checkout(shop: Shop, client: httpx.AsyncClient, package: str = "starter") -> dict:
    answer = await client.post("/api/v1/purchases", json={"package": package})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def credit(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/balance")).json()["credit"])


async def status(client: httpx.AsyncClient, purchase_id: str) -> str:
    return str((await client.get(f"/api/v1/purchases/{purchase_id}")).json()["status"])


async def test_a_card_purchase_end_to_end_to_a_job_that_uses_it(
        shop: Shop, alice: httpx.AsyncClient) -> None:
    offered = (await alice.get("/api/v1/packages")).json()
    assert offered["card"] and [p["name"] for p in offered["packages"]] == ["starter", "studio"]
    assert offered["packages"][1]["points"] == 6000
    assert offered["packages"][0]["price_text"] == "5.00 USD"
    assert offered["packages"][0]["buys"].startswith("≈ ")

    bought = await checkout(shop, alice)
    assert bought["status"] == "pending" and bought["checkout_url"].startswith(shop.stripe.url)
    [(_, path, params)] = shop.stripe.requests
    assert path == "/v1/checkout/sessions"
    assert params["metadata"]["purchase_id"] == params["client_reference_id"] == bought["id"]
    assert params["success_url"] == f"{shop.url}/buy/done?purchase={bought['id']}"
    assert params["line_items"][0]["price_data"]["unit_amount"] == "500"

    # Coming back from Stripe before its webhook grants nothing and says "processing".
    page = await alice.get(f"/buy/done?purchase={bought['id']}")
    assert "Processing your payment" in page.text
    assert await credit(alice) == 0

    await shop.stripe.pay(shop.session_id)
    [sent] = shop.stripe.sent
    assert (sent.status, json.loads(sent.body)["result"]) == (200, "granted")
    assert await status(alice, bought["id"]) == "paid"
    assert await credit(alice) == 1000
    assert "Paid: 1,000 points were added" in (
        await alice.get(f"/buy/done?purchase={bought['id']}")).text

    job = await alice.post("/api/v1/jobs", json={"options": BIG_JOB})
    assert job.status_code == 202, job.text
    done = await shop.app.jobs.wait(job.json()["id"], timeout=10)
    assert done.state == "succeeded" and (done.cost or 0) > 100  # more than the allowance
    assert await credit(alice) < 1000
    receipts = (await alice.get("/api/v1/purchases")).json()
    assert [(r["package"], r["amount_text"], r["status"]) for r in receipts] == [
        ("starter", "5.00 USD", "paid")]
    account = (await alice.get("/account")).text
    assert "starter" in account and "5.00 USD" in account


async def test_duplicate_forged_stale_and_malformed_webhooks_change_nothing(
        shop: Shop, alice: httpx.AsyncClient) -> None:
    bought = await checkout(shop, alice)
    stripe = shop.stripe
    stripe.hold_events = True
    await stripe.pay(shop.session_id)
    [event] = stripe.held
    body = json.dumps(event).encode()

    forged = await stripe.deliver(event, secret="whsec_not_the_real_one")
    stale = await stripe.deliver(event, timestamp=int(time.time()) - 301)
    future = await stripe.deliver(event, timestamp=int(time.time()) + 301)
    unsigned = await stripe.deliver(event, header="")
    malformed = await stripe.deliver(event, header="v1=abc,t=yesterday")
    tampered = await stripe.deliver(event, body=body.replace(b'"paid"', b'"paid" '),
                                    header=sign(body, stripe.webhook_secret))
    not_json = await stripe.deliver(event, body=b"{nope",
                                    header=sign(b"{nope", stripe.webhook_secret))
    for refused in (forged, stale, future, unsigned, malformed, tampered, not_json):
        assert refused.status == 400, refused.body
    assert await credit(alice) == 0 and await status(alice, bought["id"]) == "pending"

    first = await stripe.deliver(event)  # the genuine one, although its id was seen forged
    again = await stripe.deliver(event)
    assert json.loads(first.body)["result"] == "granted"
    assert json.loads(again.body)["result"] == "already handled"
    # Another event for the same payment (e.g. a retried completion with a new id).
    other = await stripe.deliver(stripe.event("checkout.session.completed",
                                              stripe.sessions[shop.session_id]))
    assert json.loads(other.body)["result"] == "already granted"
    results = await asyncio.gather(*[stripe.deliver(stripe.event(
        "checkout.session.async_payment_succeeded", stripe.sessions[shop.session_id]))
        for _ in range(4)])
    assert all(r.status == 200 for r in results)
    assert await credit(alice) == 1000
    kinds = [r["kind"] for r in (await alice.get("/api/v1/ledger")).json()]
    assert kinds.count("purchase") == 1


async def test_out_of_order_events(shop: Shop, alice: httpx.AsyncClient) -> None:
    stripe = shop.stripe
    # A bank debit: completed unpaid, then succeeded — delivered the other way round.
    bought = await checkout(shop, alice)
    stripe.hold_events = True
    await stripe.pay(shop.session_id, delayed=True)
    await stripe.settle(shop.session_id)
    completed, succeeded = stripe.held
    assert json.loads((await stripe.deliver(succeeded)).body)["result"] == "granted"
    assert json.loads((await stripe.deliver(completed)).body)["result"] == "waiting"
    assert await credit(alice) == 1000 and await status(alice, bought["id"]) == "paid"

    # A refund that arrives before the payment it refunds: 409, Stripe retries it later.
    stripe.held.clear()
    second = await checkout(shop, alice)
    await stripe.pay(shop.session_id)
    [paid] = stripe.held
    charge = dict(stripe.charge_of(shop.session_id), amount_refunded=500, refunded=True)
    early = stripe.event("charge.refunded", charge)
    assert (await stripe.deliver(early)).status == 409
    await stripe.deliver(paid)
    assert await credit(alice) == 2000
    assert json.loads((await stripe.deliver(early)).body)["result"] == "took back 1000"
    assert await credit(alice) == 1000 and await status(alice, second["id"]) == "refunded"

    # A failed bank debit grants nothing.
    stripe.held.clear()
    third = await checkout(shop, alice)
    await stripe.pay(shop.session_id, delayed=True)
    await stripe.settle(shop.session_id, succeeded=False)
    await stripe.release()
    assert await status(alice, third["id"]) == "failed" and await credit(alice) == 1000


async def test_a_refund_after_the_points_were_spent(shop: Shop, alice: httpx.AsyncClient) -> None:
    bought = await checkout(shop, alice)
    await shop.stripe.pay(shop.session_id)
    job = await alice.post("/api/v1/jobs", json={"options": BIG_JOB})
    assert (await shop.app.jobs.wait(job.json()["id"], timeout=10)).state == "succeeded"
    left = await credit(alice)

    provider = StripeCheckout(shop.settings)
    try:
        done = await shop.app.purchases.refund(bought["id"], provider)
    finally:
        await provider.aclose()
    assert done.points == 1000 and done.credit_after == left - 1000 < 0
    for _ in range(100):  # Stripe's charge.refunded webhook follows the refund
        if shop.stripe.sent[-1].event["type"] == "charge.refunded":
            break
        await asyncio.sleep(0.05)
    last = shop.stripe.sent[-1]
    assert json.loads(last.body)["result"] == "took back 0"  # already taken: once
    assert await credit(alice) == left - 1000

    refused = await alice.post("/api/v1/jobs", json={"options": {"prompt": "a fox"}})
    assert refused.status_code == 402
    message = refused.json()["error"]["message"]
    assert f"purchased balance is −{1000 - left:,} points after a refund" in message
    assert "buy points" in message
    page = (await alice.get("/buy")).text
    assert "new jobs are paused" in page

    await checkout(shop, alice, "studio")
    await shop.stripe.pay(shop.session_id)
    assert await credit(alice) == left - 1000 + 6000  # the debt was repaid first
    job = await alice.post("/api/v1/jobs", json={"options": {"prompt": "a fox"}})
    assert job.status_code == 202, job.text
    account = (await alice.get("/api/v1/account/identities")).json()
    assert await shop.app.ledger.verify(account["account_id"])


async def test_a_chargeback_takes_the_points_back(shop: Shop, alice: httpx.AsyncClient) -> None:
    bought = await checkout(shop, alice)
    await shop.stripe.pay(shop.session_id)
    await shop.stripe.dispute(shop.session_id)
    assert json.loads(shop.stripe.sent[-1].body)["result"] == "took back 1000"
    assert await status(alice, bought["id"]) == "disputed" and await credit(alice) == 0


async def test_without_stripe_settings_the_webhook_is_absent(
        make_settings: Callable[..., Settings]) -> None:
    app = build(make_settings(packages=PACKAGES), engine=ScriptedEngine())
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/api/v1/webhooks/stripe", content=b"{}")
        assert answer.status_code == 404
        offered = (await client.get("/api/v1/packages")).json()
        assert offered["packages"] == [] and "Telegram" in offered["message"]
