"""An operator refunds a Telegram Stars purchase from the admin console: refundStarPayment
goes to the (fake) Bot API once, the points are taken back once, the audit log says who and
why; a second refund is refused and a non-admin cannot refund at all."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.platforms.web.app import create_app
from tests.support.fake_telegram import FakeTelegram
from tests.web_pages.conftest import Browser

PACKAGES = [{"name": "small", "points": 1000, "stars": 50}]


async def test_an_admin_refunds_a_stars_purchase_once_with_a_reason(
    make_settings: Callable[..., Settings],
) -> None:
    async with FakeTelegram() as fake:
        settings = make_settings(packages=PACKAGES, telegram_token=fake.token,
                                 telegram_api_url=f"http://127.0.0.1:{fake.port}")
        async with build(settings) as app:
            alice = fake.user(3101, "Alice")
            buyer = await app.users.resolve(Identity("telegram", "3101"))
            purchase, _ = await app.purchases.start(buyer, "small", "telegram", payer_ref="3101")
            charge = "stxadminrefund"
            fake._payments()["charges"][charge] = {
                "id": charge, "user_id": alice.id, "amount": 50, "payload": purchase.id,
                "refunded": False}
            await app.purchases.fulfil(purchase.id, charge, amount=50, currency="XTR")
            before = (await app.ledger.balance(buyer.id)).credit

            transport = httpx.ASGITransport(app=create_app(app, manage_lifecycle=False))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c1, \
                    httpx.AsyncClient(transport=transport, base_url="http://t") as c2:
                root, mallory = Browser(c1), Browser(c2)
                await root.sign_up("root")
                await mallory.sign_up("mallory")
                assert app.operators is not None
                await app.operators.set_admin(
                    None, await app.users.resolve(Identity("web", "root")), True)

                forged = await mallory.post(f"/admin/purchases/{purchase.id}/refund",
                                            {"reason": "mine"})
                assert forged.status_code == 404
                assert fake.calls_of("refundStarPayment") == []

                page = await root.get("/admin/purchases")
                assert f"/admin/purchases/{purchase.id}/refund" in page.text
                unexplained = await root.post(f"/admin/purchases/{purchase.id}/refund",
                                              {"reason": ""})
                assert unexplained.status_code == 400 and "say why" in unexplained.text
                done = await root.post(f"/admin/purchases/{purchase.id}/refund",
                                       {"reason": "asked by the buyer"})
                assert done.status_code == 303
                [call] = fake.calls_of("refundStarPayment")
                assert call.params["telegram_payment_charge_id"] == charge
                assert (await app.ledger.balance(buyer.id)).credit == before - 1000
                assert (await app.purchases.store.get(purchase.id)).status == "refunded"

                again = await root.post(f"/admin/purchases/{purchase.id}/refund",
                                        {"reason": "twice"})
                assert again.status_code == 409 and "already refunded" in again.text
                assert len(fake.calls_of("refundStarPayment")) == 1
                assert (await app.ledger.balance(buyer.id)).credit == before - 1000

                audit = await root.get("/admin/audit")
                assert "refund purchase" in audit.text and "asked by the buyer" in audit.text
