"""A fake Stripe: the API calls we make (Checkout Sessions, Refunds), a hosted checkout page a
browser can pay on, and the webhook sender, signing events as Stripe does.

    async with FakeStripe(webhook_url=f"{our_url}/api/v1/webhooks/stripe") as stripe:
        settings = make_settings(stripe_api_url=stripe.url, stripe_secret_key=stripe.api_key,
                                 stripe_webhook_secret=stripe.webhook_secret, ...)
        ...  # our server creates a session; a browser opens session["url"] and presses Pay
        await stripe.pay(session_id)            # or do it without a browser
        await stripe.send("charge.refunded", charge)   # any event, signed (or not)

The API is ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}`` and
``POST /v1/refunds`` (form-encoded as the ``stripe`` library sends them; ``Authorization:
Bearer <key>``; ``Idempotency-Key`` honoured). The checkout page is ``GET /pay/{session}``;
its Pay button (``POST /pay/{session}``) completes the payment, sends
``checkout.session.completed`` to the webhook and redirects to the session's success URL.
With ``hold_events`` set, events are queued instead of sent until ``release()``.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from stationthis.platforms.web.stripe_checkout import sign

JSON = dict[str, Any]


@dataclass
class Sent:
    """One webhook delivery and our server's answer."""

    event: JSON
    status: int | None
    body: str


def _nested(form: dict[str, str]) -> JSON:
    """``a[b][0][c]=x`` form keys as nested dicts and lists."""
    root: JSON = {}
    for key, value in form.items():
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: Any = value if last else ([] if parts[i + 1].isdigit() else {})
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None or last:
                    node[index] = nxt
                node = node[index]
            else:
                if part not in node or last:
                    node[part] = nxt
                node = node[part]
    return root


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


class FakeStripe:
    def __init__(self, webhook_url: str = "", *, hold_events: bool = False) -> None:
        self.webhook_url = webhook_url
        self.api_key = "sk_test_" + secrets.token_hex(12)
        self.webhook_secret = "whsec_" + secrets.token_hex(16)
        self.hold_events = hold_events
        self.sessions: dict[str, JSON] = {}
        self.intents: dict[str, JSON] = {}
        self.charges: dict[str, JSON] = {}
        self.refunds: list[JSON] = []
        self.sent: list[Sent] = []
        self.held: list[JSON] = []
        self.requests: list[tuple[str, str, JSON]] = []  # (method, path, params)
        self._idempotent: dict[str, JSON] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    # ----- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_get("/v1/checkout/sessions/{id}", self._get_session)
        app.router.add_post("/v1/refunds", self._create_refund)
        app.router.add_get("/pay/{id}", self._page)
        app.router.add_post("/pay/{id}", self._pay_pressed)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeStripe:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ----- what tests do -------------------------------------------------------------------
    async def pay(self, session_id: str, *, delayed: bool = False) -> JSON:
        """The buyer pays. ``delayed``: a bank debit — completed but unpaid; then
        ``settle`` sends async_payment_succeeded or _failed."""
        session = self.sessions[session_id]
        intent = self._intent(session)
        if delayed:
            session.update(status="complete", payment_status="unpaid")
            await self.send("checkout.session.completed", session)
            return session
        self._charge(intent)
        session.update(status="complete", payment_status="paid")
        await self.send("checkout.session.completed", session)
        return session

    async def settle(self, session_id: str, *, succeeded: bool = True) -> JSON:
        session = self.sessions[session_id]
        if succeeded:
            self._charge(self.intents[session["payment_intent"]])
            session["payment_status"] = "paid"
            await self.send("checkout.session.async_payment_succeeded", session)
        else:
            await self.send("checkout.session.async_payment_failed", session)
        return session

    async def dispute(self, session_id: str) -> JSON:
        charge = self.charge_of(session_id)
        dispute = {"id": _id("dp"), "object": "dispute", "amount": charge["amount"],
                   "charge": charge["id"], "payment_intent": charge["payment_intent"],
                   "currency": charge["currency"], "reason": "fraudulent",
                   "status": "needs_response"}
        await self.send("charge.dispute.created", dispute)
        return dispute

    def charge_of(self, session_id: str) -> JSON:
        intent = self.intents[self.sessions[session_id]["payment_intent"]]
        return self.charges[intent["latest_charge"]]

    def event(self, kind: str, obj: JSON, event_id: str | None = None) -> JSON:
        return {"id": event_id or _id("evt"), "object": "event", "api_version": "2026-10-28",
                "created": int(time.time()), "type": kind, "livemode": False,
                "data": {"object": json.loads(json.dumps(obj))}}

    async def send(self, kind: str, obj: JSON) -> Sent | None:
        """Send an event for ``obj`` now (or queue it while ``hold_events``)."""
        event = self.event(kind, obj)
        if self.hold_events:
            self.held.append(event)
            return None
        return await self.deliver(event)

    async def release(self) -> list[Sent]:
        events, self.held = self.held, []
        return [await self.deliver(e) for e in events]

    async def deliver(self, event: JSON, *, timestamp: int | None = None,
                      secret: str | None = None, header: str | None = None,
                      body: bytes | None = None) -> Sent:
        """POST one event, signed with our secret now, unless told otherwise."""
        raw = body if body is not None else json.dumps(event).encode()
        signature = header if header is not None else sign(
            raw, secret or self.webhook_secret, timestamp)
        assert self._session is not None
        try:
            async with self._session.post(
                    self.webhook_url, data=raw,
                    headers={"Content-Type": "application/json",
                             "Stripe-Signature": signature}) as answer:
                sent = Sent(event, answer.status, await answer.text())
        except aiohttp.ClientError as exc:
            sent = Sent(event, None, str(exc))
        self.sent.append(sent)
        return sent

    # ----- objects -------------------------------------------------------------------------
    def _intent(self, session: JSON) -> JSON:
        if session.get("payment_intent"):
            return self.intents[session["payment_intent"]]
        metadata = (session.get("payment_intent_data") or {}).get("metadata") or {}
        intent = {"id": _id("pi"), "object": "payment_intent", "amount": session["amount_total"],
                  "currency": session["currency"], "metadata": dict(metadata),
                  "status": "processing", "latest_charge": None}
        self.intents[intent["id"]] = intent
        session["payment_intent"] = intent["id"]
        return intent

    def _charge(self, intent: JSON) -> JSON:
        charge = {"id": _id("ch"), "object": "charge", "amount": intent["amount"],
                  "amount_refunded": 0, "currency": intent["currency"], "paid": True,
                  "refunded": False, "payment_intent": intent["id"],
                  "metadata": dict(intent["metadata"])}
        self.charges[charge["id"]] = charge
        intent.update(status="succeeded", latest_charge=charge["id"])
        return charge

    # ----- the HTTP API --------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    @staticmethod
    def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
        return web.json_response({"error": {"type": kind, "message": message}}, status=status)

    async def _params(self, request: web.Request) -> JSON:
        form = await request.post()
        params = _nested({k: str(v) for k, v in form.items()})
        self.requests.append((request.method, request.path, params))
        return params

    async def _create_session(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, "Invalid API Key provided", "authentication_error")
        key = request.headers.get("Idempotency-Key")
        params = await self._params(request)
        if key and key in self._idempotent:
            return web.json_response(self._idempotent[key])
        items = params.get("line_items") or []
        try:
            total = sum(int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1))
                        for i in items)
            currency = items[0]["price_data"]["currency"]
        except (KeyError, IndexError, TypeError, ValueError):
            return self._error(400, "line_items need price_data with unit_amount and currency")
        session_id = _id("cs")
        session = {
            "id": session_id, "object": "checkout.session", "mode": params.get("mode"),
            "url": f"{self.url}/pay/{session_id}", "amount_total": total,
            "currency": currency, "metadata": params.get("metadata") or {},
            "client_reference_id": params.get("client_reference_id"),
            "payment_intent": None, "payment_status": "unpaid", "status": "open",
            "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
            "payment_intent_data": params.get("payment_intent_data") or {},
            "line_items_description": items[0]["price_data"].get("product_data", {}).get("name"),
        }
        self.sessions[session_id] = session
        if key:
            self._idempotent[key] = session
        return web.json_response(session)

    async def _get_session(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, "Invalid API Key provided", "authentication_error")
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return self._error(404, "No such checkout.session")
        return web.json_response(session)

    async def _create_refund(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, "Invalid API Key provided", "authentication_error")
        key = request.headers.get("Idempotency-Key")
        params = await self._params(request)
        if key and key in self._idempotent:
            return web.json_response(self._idempotent[key])
        intent = self.intents.get(str(params.get("payment_intent")))
        if intent is None or not intent.get("latest_charge"):
            return self._error(400, "This PaymentIntent has no successful charge to refund")
        charge = self.charges[intent["latest_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(params.get("amount") or left)
        if amount <= 0 or amount > left:
            return self._error(400, f"Charge {charge['id']} has already been refunded.")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {"id": _id("re"), "object": "refund", "amount": amount,
                  "charge": charge["id"], "payment_intent": intent["id"],
                  "currency": charge["currency"], "status": "succeeded"}
        self.refunds.append(refund)
        if key:
            self._idempotent[key] = refund
        asyncio.get_running_loop().create_task(self.send("charge.refunded", charge))
        return web.json_response(refund)

    # ----- the hosted checkout page --------------------------------------------------------
    async def _page(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="no such checkout session")
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        body = f"""<!doctype html><html><head><title>Fake Stripe Checkout</title></head>
<body><h1>Fake Stripe Checkout</h1>
<p id="item">{html.escape(str(session.get('line_items_description') or ''))}</p>
<p id="amount">{amount}</p>
<form method="post" action="/pay/{session['id']}">
<button id="pay" type="submit">Pay {amount}</button></form>
<a id="cancel" href="{html.escape(session['cancel_url'] or '')}">Cancel</a>
</body></html>"""
        return web.Response(text=body, content_type="text/html")

    async def _pay_pressed(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="no such checkout session")
        if session["status"] == "open":
            await self.pay(session["id"])
        target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])
        raise web.HTTPSeeOther(target)
