"""Payments in Telegram Stars for the fake Bot API: ``sendInvoice`` (currency XTR, no provider
token, one price), ``answerPreCheckoutQuery`` (within 10 s, once), ``refundStarPayment``, and
a user paying an invoice::

    invoice = await wait_message(fake, alice, lambda m: "invoice" in m)
    charge = await fake.pay_invoice(alice, invoice)   # pre_checkout_query → the bot's answer
    # → a successful_payment message from the user (if the bot said ok); charge is its
    #   telegram_payment_charge_id, or None when the bot refused (fake.checkout_answers)

As on Telegram, the payment only happens when the bot answers the pre-checkout query with
ok=True within 10 seconds; a refund adds a ``refunded_payment`` service message.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import time
from typing import Any

from tests.support.fake_telegram_objects import JSON, FakeUser, bad

CHECKOUT_TIMEOUT = 10.0  # Telegram cancels a payment whose pre-checkout query is not answered


class PaymentPlay:
    """Mixed into FakeTelegram (uses its chats, message store and update queue)."""

    def _payments(self) -> dict[str, Any]:
        state = self.__dict__.setdefault("_payment_state", {
            "invoices": {}, "queries": {}, "charges": {}})
        return state  # type: ignore[no-any-return]

    @property
    def checkout_answers(self) -> list[JSON]:
        """Every answerPreCheckoutQuery the bot made, in order."""
        return [q["answer"] for q in self._payments()["queries"].values() if q["answer"]]

    @property
    def star_charges(self) -> dict[str, JSON]:
        """Payments made: telegram_payment_charge_id → {user_id, amount, payload, refunded}."""
        return copy.deepcopy(self._payments()["charges"])

    # ---- bot methods ---------------------------------------------------------------------
    async def api_sendInvoice(self, p: JSON) -> JSON:
        chat = self._chat(p)  # type: ignore[attr-defined]
        prices = p.get("prices")
        if isinstance(prices, str):
            try:
                prices = json.loads(prices)
            except ValueError:
                raise bad("can't parse prices JSON object") from None
        for name in ("title", "description", "payload", "currency"):
            if not str(p.get(name) or "").strip():
                raise bad(f"{name} is empty" if name != "payload" else "PAYLOAD_EMPTY")
        if len(str(p["title"])) > 32:
            raise bad("INVOICE_TITLE_INVALID")  # 1-32 characters
        if len(str(p["description"])) > 255:
            raise bad("INVOICE_DESCRIPTION_INVALID")
        if len(str(p["payload"]).encode()) > 128:
            raise bad("PAYLOAD_INVALID")
        if p["currency"] == "XTR":
            if p.get("provider_token"):
                raise bad("PROVIDER_TOKEN_INVALID: Stars payments take no provider token")
            if not isinstance(prices, list) or len(prices) != 1:
                raise bad("STARS_INVOICE_INVALID: exactly one price is allowed in Stars")
        elif not p.get("provider_token"):
            raise bad("PAYMENT_PROVIDER_INVALID")
        if not isinstance(prices, list) or not prices or not all(
                isinstance(x, dict) and isinstance(x.get("amount"), int) and x.get("label")
                for x in prices):
            raise bad("prices must be a non-empty list of {label, amount}")
        total = sum(int(x["amount"]) for x in prices)
        if total <= 0:
            raise bad("CURRENCY_TOTAL_AMOUNT_INVALID")
        invoice = {"title": p["title"], "description": p["description"],
                   "start_parameter": str(p.get("start_parameter") or ""),
                   "currency": p["currency"], "total_amount": total}
        message = self._send(chat, p, {"invoice": invoice},  # type: ignore[attr-defined]
                             self._markup(p, chat))  # type: ignore[attr-defined]
        self._payments()["invoices"][(chat.id, message["message_id"])] = {
            "payload": str(p["payload"]), "currency": p["currency"], "total": total,
            "paid": False}
        return message  # type: ignore[no-any-return]

    async def api_answerPreCheckoutQuery(self, p: JSON) -> bool:
        query = self._payments()["queries"].get(str(p.get("pre_checkout_query_id")))
        if query is None or query["answer"] or time.monotonic() > query["deadline"]:
            raise bad("query is too old and response timeout expired or query ID is invalid")
        ok = p.get("ok")
        ok = ok if isinstance(ok, bool) else str(ok).lower() in ("true", "1")
        if not ok and not str(p.get("error_message") or "").strip():
            raise bad("error_message must be non-empty when ok is false")
        query["answer"] = {"ok": ok} | ({"error_message": p["error_message"]} if not ok else {})
        query["answered"].set()
        self._notify()  # type: ignore[attr-defined]
        return True

    async def api_refundStarPayment(self, p: JSON) -> bool:
        charge = self._payments()["charges"].get(str(p.get("telegram_payment_charge_id")))
        try:
            user_id = int(p.get("user_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad("user_id is invalid") from None
        if charge is None or charge["user_id"] != user_id:
            raise bad("CHARGE_NOT_FOUND")
        if charge["refunded"]:
            raise bad("CHARGE_ALREADY_REFUNDED")
        charge["refunded"] = True
        user = self._users[user_id]  # type: ignore[attr-defined]
        refunded = {"currency": "XTR", "total_amount": charge["amount"],
                    "invoice_payload": charge["payload"],
                    "telegram_payment_charge_id": charge["id"]}
        message = self.store_message(  # type: ignore[attr-defined]
            user.private_chat, user.as_dict(), {"refunded_payment": refunded})
        self._enqueue("message", message, user.private_chat)  # type: ignore[attr-defined]
        return True

    # ---- what users do -------------------------------------------------------------------
    def deliver_pre_checkout(self, user: FakeUser, invoice_message: JSON, *,
                             payload: str | None = None, total: int | None = None) -> str:
        """Queue a pre_checkout_query for the invoice (tests may alter payload or total, as a
        stale invoice would); returns the query id."""
        key = (invoice_message["chat"]["id"], invoice_message["message_id"])
        invoice = self._payments()["invoices"].get(key)
        if invoice is None:
            raise ValueError("that message is not an invoice the bot sent")
        query_id = str(secrets.randbits(63))
        self._payments()["queries"][query_id] = {
            "answer": None, "answered": asyncio.Event(),
            "deadline": time.monotonic() + CHECKOUT_TIMEOUT}
        query = {"id": query_id, "from": user.as_dict(), "currency": invoice["currency"],
                 "total_amount": invoice["total"] if total is None else total,
                 "invoice_payload": invoice["payload"] if payload is None else payload}
        self._enqueue("pre_checkout_query", query, user.private_chat)  # type: ignore[attr-defined]
        return query_id

    async def pay_invoice(self, user: FakeUser, invoice_message: JSON, **altered: Any
                          ) -> str | None:
        """The user pays: a pre_checkout_query, and if the bot answers ok within 10 s a
        successful_payment message. Returns the charge id (None: the bot refused)."""
        query_id = self.deliver_pre_checkout(user, invoice_message, **altered)
        query = self._payments()["queries"][query_id]
        try:
            await asyncio.wait_for(query["answered"].wait(), CHECKOUT_TIMEOUT)
        except TimeoutError:
            raise AssertionError("the bot did not answer the pre-checkout query in 10 s") from None
        if not query["answer"]["ok"]:
            return None
        key = (invoice_message["chat"]["id"], invoice_message["message_id"])
        invoice = self._payments()["invoices"][key]
        charge_id = f"stxtest{secrets.token_hex(16)}"
        self._payments()["charges"][charge_id] = {
            "id": charge_id, "user_id": user.id, "amount": invoice["total"],
            "payload": invoice["payload"], "refunded": False}
        invoice["paid"] = True
        return self.deliver_successful_payment(user, charge_id)

    def deliver_successful_payment(self, user: FakeUser, charge_id: str) -> str:
        """(Again) the successful_payment message of a charge: Telegram may deliver an update
        twice; tests use this to check a payment is granted once."""
        charge = self._payments()["charges"][charge_id]
        payment = {"currency": "XTR", "total_amount": charge["amount"],
                   "invoice_payload": charge["payload"],
                   "telegram_payment_charge_id": charge_id,
                   "provider_payment_charge_id": ""}
        message = self.store_message(  # type: ignore[attr-defined]
            user.private_chat, user.as_dict(), {"successful_payment": payment})
        self._enqueue("message", message, user.private_chat)  # type: ignore[attr-defined]
        return charge_id
