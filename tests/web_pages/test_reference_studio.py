"""Reference images in the studio: every result tile offers "Use as reference", which opens
the studio on the reference tool with that image chosen; the studio lists each reference
kind; a run follows the image (an earlier output or an upload) on the preview engine at its
size; without an image it says what to do and runs nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from stationthis.workflows.app import App
from tests.support.scripted import png
from tests.web_pages.conftest import Browser

FEED = {"X-Studio": "feed"}
KINDS = ("reference", "reference-depth", "reference-pose", "reference-style")


async def _finished(app: App, answer_text: str) -> tuple[str, list[str]]:
    found = re.search(r'<article class="tile" id="tile-([0-9a-f]+)"', answer_text)
    assert found, answer_text
    job = await app.jobs.wait(found.group(1), timeout=60)
    assert job.state == "succeeded", job.error
    return job.id, job.outputs


async def test_use_as_reference_then_run_each_way(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    made = await browser.post("/studio/run", {"tool": "make", "prompt": "a harbour at dusk",
                                              "width": "256", "height": "192"}, headers=FEED)
    job_id, (media,) = await _finished(station_app, made.text)
    tile = html.unescape((await browser.get(f"/studio/tiles/{job_id}")).text)
    link = re.search(r'<a class="button secondary small use-as-reference" href="([^"]+)"', tile)
    assert link and link.group(1) == f"/?tool=reference&image={media}", tile

    studio = await browser.get(link.group(1))
    assert studio.status_code == 200
    options = re.findall(r'<option value="([^"]+)"[^>]*>\1 — reference</option>', studio.text)
    assert tuple(sorted(options)) == KINDS
    assert re.search(r'<option value="reference" selected>', studio.text)
    assert 'data-category="reference"' in studio.text
    assert f'<input type="hidden" name="image" value="{media}" data-image-input' in studio.text

    ran = await browser.post("/studio/run", {"tool": "reference", "prompt": "a castle",
                                             "image": media, "strength": "0.6"}, headers=FEED)
    assert ran.status_code == 201, ran.text
    ref_id, (ref_out,) = await _finished(station_app, ran.text)
    job = await station_app.jobs.get(ref_id)
    assert (job.tool, job.inputs, job.params["strength"]) == ("reference", {"image": media}, 0.6)
    out = await station_app.media.get(ref_out)
    assert (out.width, out.height) == (256, 192)  # the reference's size

    uploaded = await browser.client.post(
        "/api/v1/media", files={"file": ("sketch.png", png(96, 128), "image/png")},
        headers={"X-CSRF-Token": browser.csrf})
    assert uploaded.status_code == 201, uploaded.text
    upload = uploaded.json()["id"]
    styled = await browser.post("/studio/run", {"tool": "reference-style", "prompt": "a forest",
                                                "image": upload}, headers=FEED)
    _, (style_out,) = await _finished(station_app, styled.text)
    item = await station_app.media.get(style_out)
    assert (item.width, item.height) == (96, 128)


async def test_a_reference_run_without_an_image_says_what_to_do(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("bob")
    before = (await browser.client.get("/api/v1/balance")).json()["total"]
    page = await browser.post("/studio/run", {"tool": "reference-pose", "prompt": "a dancer"})
    assert page.status_code == 400
    assert "Choose an image for “image” first" in page.text
    assert '<option value="reference-pose" selected>' in page.text  # the form, kept
    assert (await browser.client.get("/api/v1/balance")).json()["total"] == before
    assert (await browser.client.get("/api/v1/jobs")).json()["jobs"] == []
