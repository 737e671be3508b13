"""Describe and the server's LoRAs in the studio: every result tile offers "Describe", which
opens the studio on the describe tool with that image chosen (an upload works the same way);
the finished tile shows the prompts, each with "Use this prompt" (into the prompt bar, or the
studio with it filled in); the studio lists the server's LoRAs with their tags, triggers and
price factors, and a prompt with such a tag is priced by it."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import quote_plus, unquote

from stationthis.workflows import describe as describing
from stationthis.workflows.app import App
from tests.support.scripted import png
from tests.web_pages.conftest import Browser

FEED = {"X-Studio": "feed"}


async def _finished(app: App, answer_text: str) -> str:
    found = re.search(r'<article class="tile" id="tile-([0-9a-f]+)"', answer_text)
    assert found, answer_text
    job = await app.jobs.wait(found.group(1), timeout=60)
    assert job.state == "succeeded", job.error
    return job.id


async def test_describe_a_result_then_use_a_prompt(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    made = await browser.post("/studio/run", {"tool": "make", "prompt": "a harbour at dusk",
                                              "width": "256", "height": "192"}, headers=FEED)
    job = await station_app.jobs.get(await _finished(station_app, made.text))
    media = job.outputs[0]
    tile = html.unescape((await browser.get(f"/studio/tiles/{job.id}")).text)
    link = re.search(r'<a class="button secondary small describe-image" href="([^"]+)"', tile)
    assert link and link.group(1) == f"/?tool=describe&image={media}", tile

    studio = await browser.get(link.group(1))
    assert studio.status_code == 200
    assert '<option value="describe" selected>' in studio.text
    assert f'<input type="hidden" name="image" value="{media}" data-image-input' in studio.text
    assert 'name="width"' not in studio.text  # sized by the image

    ran = await browser.post("/studio/run", {"tool": "describe", "image": media}, headers=FEED)
    assert ran.status_code == 201, ran.text
    described = await station_app.jobs.get(await _finished(station_app, ran.text))
    prompts = await describing.prompts(station_app.media, described)
    assert 3 <= len(prompts) <= 4
    tile = (await browser.get(f"/studio/tiles/{described.id}")).text
    for prompt in prompts:
        assert f'<p class="described-prompt">{html.escape(prompt)}</p>' in tile
    links = re.findall(r'<a class="button small use-prompt" href="/\?prompt=([^"]+)" '
                       r'data-prompt="([^"]+)">Use this prompt</a>', tile)
    assert [(unquote(href), html.unescape(data)) for href, data in links] == [
        (p, p) for p in prompts]
    assert '<pre class="text-output">' not in tile  # the prompts, not the raw text

    used = await browser.get(f"/?prompt={quote_plus(prompts[0])}")  # without JS: the link
    assert f">{html.escape(prompts[0])}</textarea>" in used.text
    job_page = await browser.get(f"/jobs/{described.id}")
    assert job_page.text.count("Use this prompt</a>") == len(prompts)


async def test_describe_an_upload_from_the_studio(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("bob")
    studio = await browser.get("/?tool=describe")
    assert studio.status_code == 200 and 'data-category="describe"' in studio.text
    uploaded = await browser.client.post(
        "/api/v1/media", files={"file": ("lake.png", png(96, 128, (20, 80, 200)), "image/png")},
        headers={"X-CSRF-Token": browser.csrf})
    assert uploaded.status_code == 201, uploaded.text
    ran = await browser.post("/studio/run", {"tool": "describe",
                                             "image": uploaded.json()["id"]}, headers=FEED)
    job = await station_app.jobs.get(await _finished(station_app, ran.text))
    assert job.tool == "describe" and job.cost is not None and job.cost > 0
    empty = await browser.post("/studio/run", {"tool": "describe"})
    assert empty.status_code == 400 and "Choose an image" in empty.text


async def test_the_studio_lists_the_server_loras(
    web: Callable[[], Browser], station_app: App,
) -> None:
    assert station_app.server_loras is not None
    await station_app.server_loras.set("preview-ink.safetensors", name="Ink",
                                       triggers=["inkwash"], price_factor=3)
    await station_app.server_loras.set("preview-neon.safetensors", hidden=True)
    browser = web()
    await browser.sign_up("carol")
    studio = (await browser.get("/?tool=make")).text
    start = studio.index('id="server-loras"')
    picker = studio[start:studio.index("</details>", start)]
    assert 'data-tag="&lt;lora:Ink:0.8&gt;"' in picker
    assert "<code>inkwash</code>" in picker and "price ×3" in picker
    assert "preview-pixel" in picker and "preview-neon" not in picker  # hidden: left out
    assert "<script" not in picker  # CSP: the picker's behaviour is in studio.js
    token = {"X-CSRF-Token": browser.csrf}
    plain = (await browser.client.post("/api/v1/quotes", headers=token, json={
        "tool": "make", "options": {"prompt": "a fox"}})).json()
    tagged = (await browser.client.post("/api/v1/quotes", headers=token, json={
        "tool": "make", "options": {"prompt": "a fox <lora:Ink:0.8>"}})).json()
    assert tagged["points"] == 3 * plain["points"], (plain, tagged)
    upscale = (await browser.get("/?tool=upscale")).text
    assert 'id="server-loras"' not in upscale  # a tool without LoRAs has no picker
