"""Zoom out and pan on a studio result: each is priced first on the tile, and a press runs
the outpaint on the preview engine — the picture really grows on the chosen side(s)."""

from __future__ import annotations

import re
from collections.abc import Callable

from stationthis.workflows.app import App
from tests.web_pages.conftest import Browser

FEED = {"X-Studio": "feed"}


async def _finished_tile(browser: Browser, app: App, answer_text: str) -> tuple[str, list[str]]:
    found = re.search(r'<article class="tile" id="tile-([0-9a-f]+)"', answer_text)
    assert found, answer_text
    job = await app.jobs.wait(found.group(1), timeout=60)
    assert job.state == "succeeded", job.error
    return job.id, job.outputs


async def test_zoom_out_and_pan_from_a_result_tile(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    made = await browser.post("/studio/run", {"tool": "make", "prompt": "a harbour at dusk",
                                              "width": "256", "height": "192"}, headers=FEED)
    job_id, (media,) = await _finished_tile(browser, station_app, made.text)
    tile = (await browser.get(f"/studio/tiles/{job_id}")).text
    for quote in (f"/api/v1/media/{media}/zoom-out/quote", f"/api/v1/media/{media}/pan/quote"):
        assert f'data-quote="{quote}"' in tile  # priced before anything runs
    assert 'name="factor" value="2"' in tile
    assert {d for d in re.findall(r'name="direction" value="(\w+)"', tile)} == {
        "left", "up", "right", "down"}

    panned = await browser.post(f"/media/{media}/pan", {"direction": "up"}, headers=FEED)
    assert panned.status_code == 201, panned.text
    pan_id, (pan_out,) = await _finished_tile(browser, station_app, panned.text)
    zoomed = await browser.post(f"/media/{media}/zoom-out", {"factor": "2"}, headers=FEED)
    _, (zoom_out,) = await _finished_tile(browser, station_app, zoomed.text)

    pan_item = await station_app.media.get(pan_out)
    zoom_item = await station_app.media.get(zoom_out)
    assert (pan_item.width, pan_item.height) == (256, 288)  # 96 more on top only
    assert (zoom_item.width, zoom_item.height) == (512, 384)
    pan_job = await station_app.jobs.get(pan_id)
    assert (pan_job.tool, pan_job.origin, pan_job.parent_id) == ("outpaint", "pan_up", job_id)
    assert pan_job.params["prompt"] == "a harbour at dusk"  # carried from the image's job

    sideways = await browser.post(f"/media/{media}/pan", {"direction": "sideways"},
                                  headers=FEED)
    assert sideways.status_code == 400 and "pan left, up, right or down" in sideways.text
