"""In a real browser: the Buy page, the card checkout on a fake Stripe's hosted page and back —
"processing" until Stripe's signed webhook lands, then paid, with the points on the account."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.migrations import upgrade
from stationthis.platforms.web.app import create_app
from tests.browser.conftest import START_TIMEOUT_S, _free_port
from tests.support.fake_stripe import FakeStripe
from tests.support.scripted import ScriptedEngine

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None

PACKAGES = [{"name": "starter", "points": 1000, "price": 500}]


class StripeThread:
    """The fake Stripe on its own event loop in a thread (Playwright's sync API owns ours)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = FakeStripe()
        self.call(self.fake.start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def close(self) -> None:
        self.call(self.fake.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, StripeThread]]:
    import uvicorn

    stripe = StripeThread()
    root: Path = tmp_path_factory.mktemp("shop")
    url = f"sqlite+aiosqlite:///{root / 'stationthis.db'}"
    migrate = threading.Thread(target=upgrade, args=(url,))
    migrate.start()
    migrate.join()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=root, database_url=url, packages=PACKAGES,  # type: ignore[call-arg]
                        public_url=base, stripe_api_url=stripe.fake.url,
                        stripe_secret_key=stripe.fake.api_key,
                        stripe_webhook_secret=stripe.fake.webhook_secret, _env_file=None)
    stripe.fake.webhook_url = f"{base}/api/v1/webhooks/stripe"
    server = uvicorn.Server(uvicorn.Config(create_app(build(settings, engine=ScriptedEngine())),
                                           host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"the service did not start on {base}")
        time.sleep(0.1)
    try:
        yield base, stripe
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        stripe.close()


def test_card_checkout_to_the_fake_stripe_page_and_back(
        browser: Any, shop: tuple[str, StripeThread]) -> None:
    base, stripe = shop
    context = browser.new_context(base_url=base, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto("/signup")
        page.get_by_label("Username").fill("carol")
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign up").click()

        page.get_by_role("link", name="Buy points").click()
        card = page.locator('[data-package="starter"]')
        expect(card).to_contain_text("1,000")
        expect(card).to_contain_text("images at 512²")
        stripe.fake.hold_events = True  # the webhook comes later than the buyer
        card.get_by_role("button", name="Pay 5.00 USD").click()

        expect(page.locator("h1")).to_have_text("Fake Stripe Checkout")
        assert page.url.startswith(stripe.fake.url + "/pay/cs_test_")
        expect(page.locator("#amount")).to_have_text("5.00 USD")
        page.locator("#pay").click()

        expect(page).to_have_url(f"{base}/buy/done?purchase=" + page.url.split("=")[-1])
        status = page.locator("#purchase-status")
        expect(status).to_contain_text("Processing your payment")
        expect(page.locator("#purchase")).to_have_attribute("data-status", "pending")

        [sent] = stripe.call(stripe.fake.release())
        assert sent.status == 200, sent.body
        expect(status).to_contain_text("Paid: 1,000 points were added", timeout=30_000)

        page.goto("/account")
        row = page.locator("#purchase-list tr[data-status=paid]")
        expect(row).to_contain_text("starter")
        expect(row).to_contain_text("5.00 USD")
        expect(row).to_contain_text("card")
    finally:
        context.close()
