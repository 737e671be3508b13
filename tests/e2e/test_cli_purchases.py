"""The operator's purchases commands as real processes: list (all, per user), refund a Stars
payment (refundStarPayment on the fake Bot API; the points taken back once), and the
purchases in ``points history``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.users import Identity
from tests.e2e.test_cli import NO_REFILL, Station
from tests.support.fake_telegram import FakeTelegram
from tests.support.scripted import ScriptedEngine

PACKAGES = [{"name": "small", "points": 1000, "stars": 50}]


async def test_list_and_refund_a_stars_purchase(
        tmp_path: Path, sqlite_url: str, make_settings: Callable[..., Settings]) -> None:
    async with FakeTelegram() as fake:
        env = {"STATIONTHIS_DATABASE_URL": sqlite_url,
               "STATIONTHIS_PACKAGES": json.dumps(PACKAGES),
               "STATIONTHIS_TELEGRAM_TOKEN": fake.token,
               "STATIONTHIS_TELEGRAM_API_URL": f"http://127.0.0.1:{fake.port}", **NO_REFILL}
        app = build(make_settings(packages=PACKAGES), engine=ScriptedEngine())
        alice = fake.user(3001, "Alice")
        account = await app.users.resolve(Identity("telegram", "3001"))
        purchase, _ = await app.purchases.start(account, "small", "telegram", payer_ref="3001")
        charge = "stxtestcli"
        fake._payments()["charges"][charge] = {"id": charge, "user_id": alice.id, "amount": 50,
                                               "payload": purchase.id, "refunded": False}
        await app.purchases.fulfil(purchase.id, charge, amount=50, currency="XTR")
        await app.stop()

        station = Station(tmp_path / "cli", **env)
        listed = await asyncio.to_thread(station.ok, "purchases", "list", "--user",
                                         "telegram:3001")
        assert purchase.id in listed.out and "paid" in listed.out
        assert "1,000 points" in listed.out and "50 Stars" in listed.out
        assert "Telegram Stars" in listed.out
        assert (await asyncio.to_thread(station.ok, "purchases", "list", "--status",
                                        "refunded")).out.strip() == "no purchases"

        refunded = await asyncio.to_thread(station.ok, "purchases", "refund", purchase.id)
        assert "1,000 points taken back; purchased balance now 0" in refunded.out
        [call] = fake.calls_of("refundStarPayment")
        assert call.params["telegram_payment_charge_id"] == charge
        again = await asyncio.to_thread(station, "purchases", "refund", purchase.id)
        assert again.code == 1 and "already refunded" in again.err
        assert len(fake.calls_of("refundStarPayment")) == 1

        history = await asyncio.to_thread(station.ok, "points", "history", "telegram:3001")
        assert "refund" in history.out and "purchases:" in history.out
        assert "(−1,000 refunded)" in history.out
