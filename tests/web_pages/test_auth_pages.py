"""Sign up, sign in, sign out, and who may see which page."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from stationthis.core.users import Identity
from stationthis.workflows.app import App
from tests.web_pages.conftest import Browser

PRIVATE_PAGES = ["/gallery", "/datasets", "/account", "/jobs/abc", "/gallery/abc",
                 "/datasets/abc"]


async def test_home_signed_out_shows_the_service_status_and_a_way_in(
    web: Callable[[], Browser],
) -> None:
    home = await web().get("/")
    assert home.status_code == 200
    assert 'Status: <b class="ok">ok</b>' in home.text
    assert "preview engine" in home.text
    assert 'href="/signup"' in home.text and 'href="/signin"' in home.text
    assert "Studio" not in home.text  # no studio without an account


@pytest.mark.parametrize("path", PRIVATE_PAGES)
async def test_private_pages_send_a_signed_out_browser_to_sign_in(
    web: Callable[[], Browser], path: str
) -> None:
    response = await web().get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/signin?next={path}"


async def test_sign_up_signs_in_and_opens_the_studio(web: Callable[[], Browser]) -> None:
    browser = web()
    created = await browser.sign_up("alice")
    assert created.headers["location"] == "/"
    studio = await browser.get("/")
    assert ">Studio</h1>" in studio.text
    assert "alice" in studio.text
    assert browser.csrf  # the page carries the session's CSRF token for its fetch calls


async def test_a_refused_sign_up_says_why_and_keeps_what_was_typed(
    web: Callable[[], Browser],
) -> None:
    browser = web()
    form = await browser.get("/signup")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    refused = await browser.client.post("/signup", data={
        "csrf": token.group(1), "username": "<b>x", "password": "long enough"})
    assert refused.status_code == 400
    assert "a username is 3–32 characters" in refused.text
    assert 'value="&lt;b&gt;x"' in refused.text  # escaped, never markup
    assert "long enough" not in refused.text  # the password is never sent back
    assert "stationthis_session" not in refused.headers.get("set-cookie", "")


async def test_sign_up_from_another_site_is_refused(web: Callable[[], Browser]) -> None:
    """Login CSRF: a form posted from elsewhere has no matching double-submit token."""
    browser = web()
    refused = await browser.client.post("/signup", data={
        "csrf": "forged", "username": "mallory", "password": "long enough"})
    assert refused.status_code == 403
    assert "expired" in refused.text
    await web().sign_up("mallory")  # nothing was created: the name is still free


async def test_sign_in_goes_on_to_the_page_asked_for_and_sign_out_ends_it(
    web: Callable[[], Browser],
) -> None:
    await web().sign_up("bob")
    browser = web()
    asked = await browser.get("/account")
    assert asked.headers["location"] == "/signin?next=/account"
    form = await browser.get("/signin?next=/account")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    wrong = await browser.client.post("/signin", data={
        "csrf": token.group(1), "username": "bob", "password": "not it at all",
        "next": "/account"})
    assert wrong.status_code == 401
    assert "wrong username or password" in wrong.text
    right = await browser.client.post("/signin", data={
        "csrf": token.group(1), "username": "bob", "password": "correct horse",
        "next": "/account"})
    assert right.status_code == 303 and right.headers["location"] == "/account"
    account = await browser.get("/account")
    assert account.status_code == 200 and "bob" in account.text

    out = await browser.post("/signout")
    assert out.status_code == 303
    after = await browser.get("/account")
    assert after.status_code == 303  # the session is gone


async def test_sign_in_never_sends_the_browser_to_another_site(
    web: Callable[[], Browser],
) -> None:
    await web().sign_up("carol")
    browser = web()
    form = await browser.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        signed = await browser.client.post("/signin", data={
            "csrf": token.group(1), "username": "carol", "password": "correct horse",
            "next": target})
        assert signed.headers["location"] == "/", target


async def test_the_preview_engine_is_labelled_on_every_page(web: Callable[[], Browser]) -> None:
    browser = web()
    for path in ("/signin", "/signup", "/status"):
        assert 'id="preview-banner"' in (await browser.get(path)).text, path
    await browser.sign_up("dave")
    for path in ("/", "/gallery", "/datasets", "/account"):
        assert 'id="preview-banner"' in (await browser.get(path)).text, path


async def test_a_one_time_sign_in_link_opens_the_studio_once(
    web: Callable[[], Browser], station_app: App,
) -> None:
    """The Telegram bot's /web link: the browser is signed in as that user, once."""
    telegram = await station_app.users.resolve(Identity("telegram", "777"))
    token = await station_app.auth.create_login_link(telegram)
    browser = web()
    used = await browser.get(f"/auth/link/{token}")
    assert used.status_code == 303 and used.headers["location"] == "/"
    studio = await browser.get("/")
    assert ">Studio</h1>" in studio.text and 'id="preview-banner"' in studio.text
    account = await browser.get("/account")
    assert "telegram:777" in account.text
    again = await web().get(f"/auth/link/{token}")
    assert again.status_code == 401  # used up
