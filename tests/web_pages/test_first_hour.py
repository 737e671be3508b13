"""The studio's first hour, through the real app: the tier's bounds and the aspect presets,
runs answered with a feed tile, the feed paged, a user short of points told by how much and
what fits, the account's ledger one line per job, a new API key shown once after a redirect,
HTML error pages for browsers (JSON for programs), the API docs and favicon from this server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.jobs import Job
from stationthis.platforms.web.app import create_app
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request as MakeRequest
from tests.web_pages.conftest import Browser

FEED = {"X-Studio": "feed"}
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def _account(app: App, name: str) -> str:
    account = await app.auth.store.identity_account("web", name)
    assert account is not None
    return account


async def _run(browser: Browser, app: App, prompt: str) -> str:
    made = await browser.post("/studio/run", {"tool": "make", "prompt": prompt}, headers=FEED)
    assert made.status_code == 201, made.text
    found = re.search(r'id="tile-([0-9a-f]+)"', made.text)
    assert found
    await app.jobs.wait(found.group(1), timeout=60)
    return found.group(1)


async def test_the_form_shows_the_tiers_bounds_and_aspect_presets(
    web: Callable[[], Browser],
) -> None:
    browser = web()
    await browser.sign_up("alice")
    studio = (await browser.get("/")).text
    # the tool allows 150 steps, the free tier 48: the tier's bound is shown, and named
    assert 'name="steps" type="number" value="20" step="1" min="1" max="48"' in studio
    assert "(1–48 on the free tier)" in studio
    assert re.search(r'name="batch" type="number" value="1" step="1" min="1" max="6"', studio)
    found = re.findall(r'value="(\d+:\d+)" data-width="(\d+)" data-height="(\d+)"', studio)
    presets = {label: (int(w), int(h)) for label, w, h in found}
    assert list(presets) == ["1:1", "4:3", "3:4", "16:9", "9:16"]
    assert presets["1:1"] == (512, 512)
    assert presets["16:9"] == (680, 384) and presets["9:16"] == (384, 680)
    assert re.search(r'value="1:1" data-width="512" data-height="512" checked', studio)
    assert "16:9 <small>680×384</small>" in studio
    # the other inputs are folded away; nothing is shown as an error before anything is typed
    assert '<details id="more-options">' in studio
    assert 'id="quote-error" role="alert" hidden' in studio


async def test_presets_stay_within_the_tier(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    await browser.get("/account")
    for key, value in (("width", "2048"), ("height", "2048")):
        assert (await browser.post("/account/settings", {"key": key, "value": value})
                ).status_code == 303
    studio = (await browser.get("/")).text
    sizes = re.findall(r'data-width="(\d+)" data-height="(\d+)"', studio)
    assert ("2048", "1152") in sizes  # 16:9 at the free tier's 2048-pixel side
    assert all(int(w) <= 2048 and int(h) <= 2048 for w, h in sizes)


async def test_a_run_from_the_studio_answers_with_its_tile_and_the_feed_pages(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    made = await browser.post("/studio/run", {"tool": "make", "prompt": "a fox 1"},
                              headers=FEED)
    assert made.status_code == 201, made.text
    job_id = re.search(r'<article class="tile" id="tile-([0-9a-f]+)"', made.text)
    assert job_id and "a fox 1" in made.text and "<progress" in made.text
    job = await station_app.jobs.wait(job_id.group(1), timeout=60)
    tile = await browser.get(f"/studio/tiles/{job.id}")
    assert 'data-state="succeeded"' in tile.text
    media = job.outputs[0]
    for quote in (f"/api/v1/media/{media}/variations/quote", f"/api/v1/media/{media}/upscale/quote",
                  f"/api/v1/media/{media}/rmbg/quote", f"/api/v1/jobs/{job.id}/regenerate/quote"):
        assert f'data-quote="{quote}"' in tile.text  # each action is priced first
    assert f"/collections/add?media={media}" in tile.text
    assert f"image={media}" in tile.text  # use as input
    for n in range(2, 11):  # one at a time: a user may have only 3 queued
        await _run(browser, station_app, f"a fox {n}")
    first = (await browser.get("/")).text
    shown = re.findall(r'id="tile-([0-9a-f]+)"', first)
    assert len(shown) == 8
    assert "a fox 10" in first and "a fox 1<" not in first
    after = re.search(r'class="feed-more" data-next="([0-9a-f]+)"', first)
    assert after and after.group(1) == shown[-1]
    older = (await browser.get(f"/studio/feed?before={after.group(1)}")).text
    rest = re.findall(r'id="tile-([0-9a-f]+)"', older)
    assert len(rest) == 2 and not set(rest) & set(shown)
    assert "a fox 1</p>" in older and "feed-more" not in older
    # the old form post (without JS) still goes to the job's page
    plain = await browser.post("/studio/run", {"tool": "make", "prompt": "no script"})
    assert plain.status_code == 303 and plain.headers["location"].startswith("/jobs/")


@pytest.fixture
async def poor(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[App, Browser]]:
    """A service whose new users get only the free allowance (1000 points)."""
    app = build(make_settings(new_user_grant=0))
    await app.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(
        app=create_app(app, manage_lifecycle=False)), base_url="http://testserver")
    try:
        yield app, Browser(client)
    finally:
        await client.aclose()
        await app.stop()


async def test_short_of_points_says_by_how_much_and_what_fits(
    poor: tuple[App, Browser],
) -> None:
    station_app, browser = poor
    await browser.sign_up("alice")  # 1000 points of free allowance
    dear = {"tool": "make", "prompt": "a fox", "width": "2048", "height": "2048",
            "batch": "6", "steps": "48"}
    first = await _run_form(browser, station_app, dear)
    left = 1000 - first.cost
    alice = await station_app.users.get(await _account(station_app, "alice"))
    options = {k: v for k, v in dear.items() if k != "tool"}
    quote = await station_app.make_image.quote(alice, MakeRequest("make", options))
    assert quote.available == left < quote.points
    missing = quote.points - left
    refused = await browser.post("/studio/run", dear, headers=FEED)
    assert refused.status_code == 402
    assert f"This costs {quote.points} points; you have {left} — {missing} short." \
        in refused.text
    assert "What fits now:" in refused.text and "data-apply=" in refused.text
    assert "Your free allowance refills" in refused.text
    assert 'href="/buy"' in refused.text and 'href="/account#get-points"' in refused.text
    page = await browser.post("/studio/run", dear)  # without JS: the studio again, explained
    assert page.status_code == 402 and f"— {missing} short." in page.text
    assert "a fox</textarea>" in page.text


async def _run_form(browser: Browser, app: App, form: dict[str, str]) -> Job:
    made = await browser.post("/studio/run", form, headers=FEED)
    assert made.status_code == 201, made.text
    found = re.search(r'id="tile-([0-9a-f]+)"', made.text)
    assert found
    return await app.jobs.wait(found.group(1), timeout=60)


async def test_a_missing_image_says_what_to_do(web: Callable[[], Browser]) -> None:
    browser = web()
    await browser.sign_up("alice")
    studio = (await browser.get("/?tool=img2img")).text
    assert 'data-image-input data-required="true"' in studio
    assert 'data-max-upload="20971520"' in studio
    refused = await browser.post("/studio/run", {"tool": "img2img", "prompt": "a lake"},
                                 headers=FEED)
    assert refused.status_code == 400
    assert "Choose an image for “image” first" in refused.text
    assert "needs an input image" not in refused.text


async def test_the_ledger_reads_one_line_per_job_and_pages(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    made = await browser.post("/studio/run", {"tool": "make", "prompt": "four foxes",
                                              "batch": "4"}, headers=FEED)
    job_id = re.search(r'id="tile-([0-9a-f]+)"', made.text)
    assert job_id
    job = await station_app.jobs.wait(job_id.group(1), timeout=60)
    alice = await station_app.users.get(await _account(station_app, "alice"))
    page = (await browser.get("/account")).text
    ledger = page[page.index('id="ledger"'):page.index('id="get-points"')]
    assert f'<a href="/jobs/{job.id}">make</a> · 4 images · <b class="ledger-points">' \
        f'{job.cost} points</b>' in ledger
    assert "release" not in ledger and "capture" not in ledger and "+0" not in ledger
    assert ledger.count(f"/jobs/{job.id}") == 1
    assert "points added" in ledger  # the welcome grant
    assert 'id="spent-chart"' in page
    assert 'id="buy-points"' in page and 'href="/buy"' in page
    for n in range(25):
        await station_app.account.grant(alice, 1, key=f"test:{n}", memo=f"gift {n}")
    first = (await browser.get("/account")).text
    assert "page 1 of 2" in first and first.count('class="ledger-line"') == 20
    second = (await browser.get("/account?page=2")).text
    assert "page 2 of 2" in second and second.count('class="ledger-line"') >= 1


async def test_a_new_key_is_shown_once_after_a_redirect(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    await browser.get("/account")
    created = await browser.post("/account/keys", {"name": "my script"})
    assert created.status_code == 303 and created.headers["location"] == "/account#new-key"
    shown = await browser.get("/account")
    secret = re.search(r'<code id="new-key-secret">([^<]+)</code>', shown.text)
    assert secret and 'data-copy="#new-key-secret"' in shown.text
    assert "my script" in shown.text
    again = await browser.get("/account")  # a reload: no new key, and the secret is gone
    assert secret.group(1) not in again.text
    keys = await station_app.auth.api_keys(
        await station_app.users.get(await _account(station_app, "alice")))
    assert len(keys) == 1


async def test_browsers_get_html_error_pages_and_programs_json(
    web: Callable[[], Browser],
) -> None:
    browser = web()
    page = await browser.client.get("/no/such/page", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text and "There is no page at /no/such/page." in page.text
    assert '<link rel="icon"' in page.text
    program = await browser.client.get("/no/such/page")
    assert program.status_code == 404 and program.json()["error"]["code"] == "not_found"
    api = await browser.client.get("/api/v1/nothing", headers=HTML)
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    await browser.sign_up("alice")
    signed_in = await browser.client.get("/nope", headers=HTML)
    assert signed_in.status_code == 404 and "Sign out" in signed_in.text


async def test_the_api_docs_and_favicon_come_from_this_server(
    web: Callable[[], Browser],
) -> None:
    browser = web()
    for path in ("/docs", "/redoc"):
        docs = await browser.client.get(path)
        assert docs.status_code == 200
        assert "cdn" not in docs.text.lower() and "https://" not in docs.text
        policy = docs.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'self'" in policy
        assert "<script>" not in docs.text  # no inline script
        for asset in re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css))"', docs.text):
            fetched = await browser.client.get(asset)
            assert fetched.status_code == 200 and len(fetched.content) > 100, asset
    bundle = await browser.client.get("/docs-assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text[:2000]
    icon = await browser.client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
