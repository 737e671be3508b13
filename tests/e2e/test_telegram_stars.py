"""Buying points with Telegram Stars against the fake Bot API: /buy, the XTR invoice, the
pre-checkout query answered at once (and refused when it must be), the payment granted once,
a job paid with it, and the operator's refund after the points were spent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.platforms.telegram.handlers.payments import TelegramStars
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message
from tests.support.scripted import ScriptedEngine

PACKAGES = [{"name": "small", "points": 1000, "stars": 50},
            {"name": "big", "points": 5000, "bonus": 500, "stars": 200, "price": 999}]
SETTINGS: dict[str, Any] = {"packages": PACKAGES, "allowance": {"amount": 100},
                            "costs": {"base": 300}}  # one image costs more than the allowance


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


def invoice_of(m: dict) -> bool:  # type: ignore[type-arg]
    return from_bot(m) and "invoice" in m


async def credit_of(bot: Any, user_id: int) -> int:
    account = await bot.app.users.resolve(Identity("telegram", str(user_id)))
    return int((await bot.app.ledger.balance(account.id)).credit)


async def test_a_stars_purchase_end_to_end(
        fake: FakeTelegram, make_settings: Callable[..., Settings]) -> None:
    alice = fake.user(2101, "Alice")
    async with run_bot(fake, make_settings, engine=ScriptedEngine(), **SETTINGS) as bot:
        fake.send_text(alice, "/buy")
        menu = await wait_message(fake, alice, said("Packages (paid with Telegram Stars)"))
        assert "small: 1,000 points for 50 Stars" in text_of(menu)
        assert "big: 5,500 points (+500 bonus) for 200 Stars" in text_of(menu)
        assert "≈ " in text_of(menu) and "images at 512²" in text_of(menu)
        fake.press(alice, menu, buttons(menu)["small · 50 ⭐"])
        invoice = await wait_message(fake, alice, invoice_of)
        assert invoice["invoice"] == {"title": "1,000 points", "description": invoice[
            "invoice"]["description"], "start_parameter": "", "currency": "XTR",
            "total_amount": 50}
        [call] = fake.calls_of("sendInvoice")
        assert not call.params.get("provider_token")

        charge = await fake.pay_invoice(alice, invoice)
        assert charge is not None and fake.checkout_answers == [{"ok": True}]
        await wait_message(fake, alice, said("Thank you! 1,000 points were added"))
        assert await credit_of(bot, 2101) == 1000

        fake.deliver_successful_payment(alice, charge)  # Telegram delivers it again
        fake.send_text(alice, "/make a fox")
        await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m, timeout=30)
        thanks = [m for m in fake.messages_in(alice) if "Thank you" in text_of(m)]
        assert len(thanks) == 1
        assert 0 < await credit_of(bot, 2101) < 1000  # the job used purchased points
        account = await bot.app.users.resolve(Identity("telegram", "2101"))
        [purchase] = await bot.app.purchases.history(account)
        assert (purchase.status, purchase.provider_payment_id, purchase.amount,
                purchase.currency) == ("paid", charge, 50, "XTR")
        kinds = [e.kind for e in await bot.app.ledger.history(account.id, 200)]
        assert kinds.count("purchase") == 1
        assert await bot.app.ledger.verify(account.id)


async def test_the_pre_checkout_query_refuses_what_must_not_be_paid(
        fake: FakeTelegram, make_settings: Callable[..., Settings]) -> None:
    alice, bob = fake.user(2201, "Alice"), fake.user(2202, "Bob")
    group = fake.group(-2200, "Friends")
    async with run_bot(fake, make_settings, engine=ScriptedEngine(), **SETTINGS) as bot:
        fake.send_text(alice, "/buy small")
        first = await wait_message(fake, alice, invoice_of)
        # Someone else's invoice, a changed price, then the real payment and a second one.
        assert await fake.pay_invoice(bob, first) is None
        assert await fake.pay_invoice(alice, first, total=1) is None
        assert await fake.pay_invoice(alice, first) is not None
        await wait_message(fake, alice, said("Thank you!"))
        assert await fake.pay_invoice(alice, first) is None
        refusals = [a["error_message"] for a in fake.checkout_answers if not a["ok"]]
        assert refusals[0] == "This invoice was made for someone else: send /buy for your own."
        assert "changed since the invoice was sent" in refusals[1]
        assert "already used" in refusals[2]

        fake.send_text(alice, "/buy big")
        withdrawn = await wait_message(fake, alice, lambda m: invoice_of(m) and m[
            "invoice"]["total_amount"] == 200)
        bot.app.purchases.packages = bot.settings.packages[:1]  # the operator stopped selling it
        assert await fake.pay_invoice(alice, withdrawn) is None
        assert "no package 'big'" in fake.checkout_answers[-1]["error_message"]

        fake.send_text(alice, "/buy small")
        await wait_message(fake, alice, lambda m: invoice_of(m) and m["message_id"] > withdrawn[
            "message_id"])
        banned = [m for m in fake.messages_in(alice) if invoice_of(m)][-1]
        account = await bot.app.users.resolve(Identity("telegram", "2201"))
        await bot.app.users.set_banned(account.id, True)
        assert await fake.pay_invoice(alice, banned) is None
        assert "blocked" in fake.checkout_answers[-1]["error_message"]
        assert await credit_of(bot, 2201) == 1000  # only the one real payment

        fake.send_text(bob, "/buy", chat=group)
        await wait_message(fake, group, said("Use /buy in a private chat"))
        assert not [m for m in fake.messages_in(group) if "invoice" in m]


async def test_a_refund_after_the_points_were_spent(
        fake: FakeTelegram, make_settings: Callable[..., Settings]) -> None:
    alice = fake.user(2301, "Alice")
    async with run_bot(fake, make_settings, engine=ScriptedEngine(), **SETTINGS) as bot:
        fake.send_text(alice, "/buy small")
        charge = await fake.pay_invoice(alice, await wait_message(fake, alice, invoice_of))
        await wait_message(fake, alice, said("Thank you!"))
        fake.send_text(alice, "/make a fox")
        await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m, timeout=30)
        left = await credit_of(bot, 2301)
        account = await bot.app.users.resolve(Identity("telegram", "2301"))
        [purchase] = await bot.app.purchases.history(account)

        done = await bot.app.purchases.refund(purchase.id, TelegramStars(bot.settings))
        assert done.total == 1000 and left - 1000 < 0
        [call] = fake.calls_of("refundStarPayment")
        assert call.params["telegram_payment_charge_id"] == charge
        assert fake.star_charges[charge]["refunded"]
        # Telegram's refunded_payment message arrives too (maybe first): taken back once.
        await wait_message(fake, alice, lambda m: "refunded_payment" in m)
        assert await credit_of(bot, 2301) == left - 1000
        kinds = [e.kind for e in await bot.app.ledger.history(account.id, 200)]
        assert kinds.count("refund") == 1

        fake.send_text(alice, "/make a small fox")
        # Refused (the quote no longer fits: the chat's text names the balance; a job
        # whose quote the allowance would cover is refused by the hold with the debt named).
        await wait_message(fake, alice, said("Nothing was charged"))
        assert await credit_of(bot, 2301) == left - 1000

        fake.send_text(alice, "/buy big")
        big = await wait_message(fake, alice, lambda m: invoice_of(m) and m["invoice"][
            "total_amount"] == 200)
        await fake.pay_invoice(alice, big)
        await wait_message(fake, alice, said("5,500 points were added"))
        assert await credit_of(bot, 2301) == left - 1000 + 5500  # the debt repaid first
        assert (await bot.app.purchases.store.get(purchase.id)).status == "refunded"
        assert await bot.app.ledger.verify(account.id)
