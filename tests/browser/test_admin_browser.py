"""The admin console in a real browser: an admin signs in, sees the overview, finds a user
and grants points with a reason (an audit entry appears); a non-admin gets the 404 page.
Screenshots of the console go to docs/screenshots/admin-*.png."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.users import Identity
from tests.browser.conftest import Service

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _make_admin(service: Service, name: str) -> None:
    """What `stationthis users admin NAME` does, on the service's database (in a thread:
    Playwright's loop runs in this one)."""
    async def run() -> None:
        url = f"sqlite+aiosqlite:///{service.data_dir / 'stationthis.db'}"
        settings = Settings(data_dir=service.data_dir, database_url=url,
                            _env_file=None)  # type: ignore[call-arg]
        app = build(settings)
        try:
            assert app.operators is not None
            account = await app.users.resolve(Identity("web", name))
            await app.operators.set_admin(None, account, True)
        finally:
            await app.stop()

    thread = threading.Thread(target=lambda: asyncio.run(run()))
    thread.start()
    thread.join()


def _sign_up(page: Any, name: str) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/")


def test_an_admin_grants_points_and_a_non_admin_sees_nothing(
    page: Any, browser: Any, service: Service
) -> None:
    _sign_up(page, "erin")
    page.goto("/admin")
    expect(page.locator("h1")).to_have_text("Not found")
    page.context.clear_cookies()

    _sign_up(page, "olga")
    _make_admin(service, "olga")
    page.goto("/admin")
    expect(page.locator("#overview")).to_be_visible()
    expect(page.locator("#engine")).to_contain_text("preview")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "admin-overview.png"), full_page=True)

    page.get_by_role("link", name="Users").click()
    page.get_by_label("Name or platform id").fill("eri")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="erin").click()
    before = int(page.locator("#balance").inner_text())
    page.locator("#grant-form").get_by_label("Points").fill("300")
    page.locator("#grant-form").get_by_label("Reason").fill("bug bounty")
    page.locator("#grant-form").get_by_role("button", name="Grant").click()
    expect(page.locator("#balance")).to_have_text(str(before + 300))
    expect(page.locator("#audit")).to_contain_text("bug bounty")
    page.screenshot(path=str(SHOTS / "admin-user.png"), full_page=True)

    page.get_by_role("link", name="Moderation").click()
    page.locator("#rule-form select").select_option("word")
    page.locator("#rule-form input[name=value]").fill("b.l.o.o.d")
    page.locator("#rule-form").get_by_role("button", name="Block").click()
    expect(page.locator("#rules")).to_contain_text("b.l.o.o.d")
    page.screenshot(path=str(SHOTS / "admin-moderation.png"), full_page=True)

    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("#audit")).to_contain_text("grant")
    expect(page.locator("#audit")).to_contain_text("block word")
    page.screenshot(path=str(SHOTS / "admin-audit.png"), full_page=True)
