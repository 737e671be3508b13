"""The admin console's LoRA page (/admin/loras): an operator names a server LoRA, gives it
trigger words and a price factor, or hides it; users see that at once in the studio's picker
and GET /api/v1/loras, the price follows the factor, and the audit log says who changed what.
Anyone else gets the 404 page; a bad factor is refused with a clear message."""

from __future__ import annotations

import html
from collections.abc import Callable

from stationthis.core.users import Identity
from stationthis.workflows.app import App
from tests.web_pages.conftest import Browser

INK = "preview-ink.safetensors"


async def _operator(app: App, web: Callable[[], Browser], name: str) -> Browser:
    browser = web()
    await browser.sign_up(name)
    assert app.operators is not None
    await app.operators.set_admin(None, await app.users.resolve(Identity("web", name)), True)
    await browser.get("/admin/loras")
    return browser


async def _quote(browser: Browser, prompt: str) -> int:
    answer = await browser.client.post(
        "/api/v1/quotes", headers={"X-CSRF-Token": browser.csrf},
        json={"tool": "make", "options": {"prompt": prompt}})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["points"])


async def test_an_operator_names_a_lora_and_sets_its_price(
    web: Callable[[], Browser], station_app: App,
) -> None:
    root = await _operator(station_app, web, "root")
    listing = await root.get("/admin/loras")
    assert listing.status_code == 200
    for file in ("preview-ink.safetensors", "preview-neon.safetensors",
                 "preview-pixel.safetensors"):
        assert f'name="file" value="{file}"' in listing.text, file
    assert "<script>" not in listing.text  # CSP: no inline script

    user = web()
    await user.sign_up("alice")
    await user.get("/?tool=make")
    plain = await _quote(user, "a fox")

    saved = await root.post("/admin/loras", {
        "file": INK, "name": "Sumi Ink", "triggers": "inkwash, sumie",
        "preview": "https://example.com/ink.png", "price_factor": "2.5"})
    assert saved.status_code == 303, saved.text

    picker = html.unescape((await user.get("/?tool=make")).text)
    assert 'data-tag="<lora:Sumi Ink:0.8>"' in picker
    assert "<code>inkwash</code>" in picker and "price ×2.5" in picker
    listed = {lora["file_name"]: lora for lora in (await user.client.get("/api/v1/loras")).json()}
    assert listed[INK]["name"] == "Sumi Ink"
    assert listed[INK]["triggers"] == ["inkwash", "sumie"]
    assert listed[INK]["price_factor"] == 2.5
    assert listed[INK]["preview"] == "https://example.com/ink.png"
    assert await _quote(user, "a fox <lora:Sumi Ink:0.8>") == round(2.5 * plain)
    assert await _quote(user, "a fox in inkwash") == round(2.5 * plain)  # by trigger word

    hidden = await root.post("/admin/loras", {
        "file": INK, "name": "Sumi Ink", "triggers": "inkwash, sumie",
        "preview": "https://example.com/ink.png", "price_factor": "2.5", "hidden": "on"})
    assert hidden.status_code == 303
    assert INK not in {lora["file_name"] for lora in
                       (await user.client.get("/api/v1/loras")).json()}
    refused = await user.client.post(
        "/api/v1/quotes", headers={"X-CSRF-Token": user.csrf},
        json={"tool": "make", "options": {"prompt": "a fox <lora:Sumi Ink>"}})
    assert refused.status_code == 404, refused.text
    assert "(hidden)" in (await root.get("/admin/loras")).text  # operators still see it

    audit = (await root.get("/admin/audit")).text
    assert "set LoRA" in audit and f"lora:{INK}" in audit
    assert station_app.operators is not None
    entries = [e for e in await station_app.operators.recent_audit() if e.action == "set LoRA"]
    assert len(entries) == 2
    assert entries[0].after["hidden"] is True and entries[0].before["hidden"] is False
    assert entries[1].after["name"] == "Sumi Ink" and entries[1].after["price_factor"] == 2.5
    assert entries[1].before["name"] == "preview-ink"
    assert entries[0].actor == "root"


async def test_a_bad_factor_is_refused_clearly(
    web: Callable[[], Browser], station_app: App,
) -> None:
    root = await _operator(station_app, web, "root")
    for bad in ("cheap", "-1", "50", "nan"):
        answer = await root.post("/admin/loras", {"file": INK, "name": "Ink",
                                                  "price_factor": bad})
        assert answer.status_code == 400, (bad, answer.text)
        assert "the price factor is a number from 0 to 20" in html.unescape(answer.text), bad
    unknown = await root.post("/admin/loras", {"file": "nope.safetensors",
                                               "price_factor": "1"})
    assert unknown.status_code == 404 and "no LoRA file" in html.unescape(unknown.text)
    taken = await root.post("/admin/loras", {"file": "preview-neon.safetensors",
                                             "name": "preview-pixel", "price_factor": "1"})
    assert taken.status_code == 400 and "already the LoRA" in html.unescape(taken.text)
    assert station_app.server_loras is not None
    ink = await station_app.server_loras.find("preview-ink")
    assert ink.name == "preview-ink" and ink.price_factor == 1.0  # nothing was saved
    assert station_app.operators is not None
    assert not [e for e in await station_app.operators.recent_audit()
                if e.action == "set LoRA"]


async def test_only_operators_reach_the_lora_page(
    web: Callable[[], Browser], station_app: App,
) -> None:
    mallory = web()
    await mallory.sign_up("mallory")
    assert (await mallory.get("/admin/loras")).status_code == 404
    forged = await mallory.post("/admin/loras", {"file": INK, "name": "Mine",
                                                 "price_factor": "0"})
    assert forged.status_code == 404
    anonymous = web()
    assert (await anonymous.get("/admin/loras")).status_code == 303  # sign in first
    root = await _operator(station_app, web, "root")
    no_token = await root.post("/admin/loras", {"file": INK, "name": "Mine",
                                                "price_factor": "0"}, csrf="forged")
    assert no_token.status_code in (400, 403)
    assert station_app.server_loras is not None
    ink = await station_app.server_loras.find("preview-ink")
    assert ink.name == "preview-ink" and ink.price_factor == 1.0
