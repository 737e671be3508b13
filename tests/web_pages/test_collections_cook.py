"""The cook page (preview engine): a configuration typed as text (and refused with the reason
and what was typed), the first pieces and the price, start to "3/3", review (keep, reject,
regenerate), and a view-only share sees progress but no controls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from stationthis.core.errors import InvalidInput
from stationthis.core.users import Identity
from stationthis.platforms.web.pages.cook import parse_traits, traits_text
from stationthis.workflows.app import App
from stationthis.workflows.cook import CookStatus
from tests.web_pages.conftest import Browser
from tests.web_pages.test_collections import create

TRAITS = "animal: fox = red fox * 3, owl\nplace: forest, city * 0.5"


def test_traits_text_reads_names_prompts_and_weights_and_writes_them_back() -> None:
    parsed = parse_traits(TRAITS)
    assert parsed == [
        {"name": "animal", "traits": [{"name": "fox", "prompt": "red fox", "weight": 3.0},
                                      {"name": "owl", "weight": 1}]},
        {"name": "place", "traits": [{"name": "forest", "weight": 1},
                                     {"name": "city", "weight": 0.5}]},
    ]
    assert traits_text({"trait_types": [
        {"name": t["name"], "traits": [{"prompt": x.get("prompt", x["name"]), **x}
                                       for x in t["traits"]]} for t in parsed]}) == TRAITS
    with pytest.raises(InvalidInput, match="line 2"):
        parse_traits("animal: fox\nplace forest")
    with pytest.raises(InvalidInput, match="not a weight"):
        parse_traits("animal: fox * lots")
    assert parse_traits('[{"name": "a", "traits": ["x"]}]') == [{"name": "a",
                                                                 "traits": ["x"]}]


async def until(app: App, cid: str, done: Callable[[CookStatus], bool]) -> CookStatus:
    owner = await app.users.resolve(Identity("web", "alice"))
    async with asyncio.timeout(60):
        while True:
            status = await app.cook.status(owner, cid)
            if done(status) and status.in_flight == 0:
                return status
            await asyncio.sleep(0.05)


async def test_configure_start_and_review_a_small_supply(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser, bob = web(), web()
    await browser.sign_up("alice")
    await bob.sign_up("bob")
    cid = await create(browser, "Critters")
    first = await browser.get(f"/collections/{cid}/cook")
    assert 'id="cook-config"' in first.text and 'id="start"' not in first.text

    wrong = await browser.post(f"/collections/{cid}/cook/config", {
        "master_prompt": "a [colour] [animal]", "traits": TRAITS, "supply": "3"})
    assert wrong.status_code == 400
    assert "no trait type named &#39;colour&#39;" in wrong.text
    assert "a [colour] [animal]" in wrong.text and "red fox * 3" in wrong.text  # kept

    saved = await browser.post(f"/collections/{cid}/cook/config", {
        "master_prompt": "a [animal] in the [place]", "traits": TRAITS,
        "exclusions": "animal:owl + place:city", "supply": "3", "seed": "5"})
    assert saved.status_code == 303, saved.text
    setup = await browser.get(f"/collections/{cid}/cook")
    assert setup.text.count("<li>a ") == 3  # the first pieces, planned
    assert 'id="cook-quote"' in setup.text and "for 3 pieces" in setup.text
    assert "owl in the city" not in setup.text
    assert "animal:owl + place:city" in setup.text and "fox = red fox * 3" in setup.text

    started = await browser.post(f"/collections/{cid}/cook/start")
    assert started.status_code == 303
    await until(station_app, cid, lambda s: s.state == "finished")
    done = await browser.get(f"/collections/{cid}/cook")
    assert 'id="cook-progress">3/3' in done.text
    assert done.text.count('class="piece"') == 3 and done.text.count('data-state="done"') == 3
    assert "Cook again" in done.text

    kept = await browser.post(f"/collections/{cid}/cook/pieces/1/keep", {"page": "1"})
    assert kept.status_code == 303
    await browser.post(f"/collections/{cid}/cook/pieces/2/reject")
    regenerated = await browser.post(f"/collections/{cid}/cook/pieces/3/regenerate")
    assert regenerated.status_code == 303
    await until(station_app, cid, lambda s: s.state == "finished")
    review = (await browser.get(f"/collections/{cid}/cook")).text
    assert 'data-number="1" data-state="done" data-review="kept"' in review
    assert 'data-number="2" data-state="done" data-review="rejected"' in review
    assert "attempt 2" in review
    twice = await browser.post(f"/collections/{cid}/cook/pieces/9/keep")
    assert twice.status_code == 404

    collection = (await browser.get(f"/collections/{cid}")).text
    assert collection.count('class="item"') == 1 and "Critters #1" in collection
    assert "finished, 3/3" in collection

    await browser.post(f"/collections/{cid}/shares", {"user": "bob"})
    viewer = await bob.get(f"/collections/{cid}/cook")
    assert viewer.status_code == 200 and 'id="cook-progress">3/3' in viewer.text
    assert 'id="cook-config"' not in viewer.text and "/keep" not in viewer.text
    steer = await bob.post(f"/collections/{cid}/cook/start")
    assert steer.status_code == 403 and "only the owner" in steer.text


async def test_pause_and_cancel_from_the_page(web: Callable[[], Browser],
                                              station_app: App) -> None:
    # Slow pieces (0.2 s a step): the run cannot finish between resume and cancel.
    station_app.engine.step_delay = 0.2  # type: ignore[attr-defined]
    browser = web()
    await browser.sign_up("alice")
    cid = await create(browser, "Long")
    await browser.get(f"/collections/{cid}/cook")
    await browser.post(f"/collections/{cid}/cook/config", {
        "master_prompt": "a [animal]", "traits": "animal: fox, owl", "supply": "8"})
    await browser.post(f"/collections/{cid}/cook/start")
    paused = await browser.post(f"/collections/{cid}/cook/pause")
    assert paused.status_code == 303
    page = (await browser.get(f"/collections/{cid}/cook")).text
    assert 'data-state="paused"' in page and 'id="resume"' in page and 'id="cancel"' in page
    again = await browser.post(f"/collections/{cid}/cook/pause")
    assert again.status_code == 409 and "not running" in again.text
    await browser.post(f"/collections/{cid}/cook/resume")
    await browser.post(f"/collections/{cid}/cook/cancel")
    status = await until(station_app, cid, lambda s: s.state == "cancelled")
    assert status.done < 8
    page = (await browser.get(f"/collections/{cid}/cook")).text
    assert 'id="continue"' in page
