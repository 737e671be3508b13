"""The sign-up form from one address: after a few new accounts an hour, the page says to wait
(429 with ``Retry-After``) and makes no account."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.web_pages.conftest import Browser


async def test_the_sign_up_form_is_limited_per_address(web: Callable[[], Browser]) -> None:
    for n in range(5):
        await web().sign_up(f"person{n}")
    browser = web()
    form = await browser.get("/signup")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    refused = await browser.client.post("/signup", data={
        "csrf": token.group(1), "username": "person5", "password": "correct horse"})
    assert refused.status_code == 429
    assert "too many new accounts from this address" in refused.text
    assert int(refused.headers["retry-after"]) > 3500
    assert "stationthis_session" not in refused.headers.get("set-cookie", "")
