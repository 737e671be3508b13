"""The mask painter ("vary region") on the web: linked from every result, its page (the
image, a canvas over it, the tools; scripts only from /static), and the calls its JS makes —
upload the mask, price it, run it — through the normal media, quotes and jobs API."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import numpy as np
from PIL import Image

from stationthis.workflows.app import App
from tests.web_pages.conftest import Browser

FEED = {"X-Studio": "feed"}


def mask_png(width: int, height: int, box: tuple[int, int, int, int] | None) -> bytes:
    img = Image.new("RGB", (width, height), (0, 0, 0))
    if box is not None:
        img.paste((255, 255, 255), box)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


async def upload(browser: Browser, data: bytes) -> str:
    response = await browser.client.post(
        "/api/v1/media", files={"file": ("mask.png", data, "image/png")},
        headers={"X-CSRF-Token": browser.csrf})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_the_painter_page_and_the_run_it_makes(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    made = await browser.post("/studio/run", {"tool": "make", "prompt": "a harbour at dusk",
                                              "width": "256", "height": "192"}, headers=FEED)
    job_id = re.search(r'id="tile-([0-9a-f]+)"', made.text).group(1)  # type: ignore[union-attr]
    parent = await station_app.jobs.wait(job_id, timeout=60)
    media = parent.outputs[0]
    tile = (await browser.get(f"/studio/tiles/{job_id}")).text
    assert f'href="/media/{media}/inpaint">Vary region</a>' in tile

    page = await browser.get(f"/media/{media}/inpaint")
    assert page.status_code == 200
    html = page.text
    assert '<canvas id="painter-canvas" width="256" height="192"' in html
    assert f'data-image="{media}"' in html and 'data-tool="inpaint"' in html
    for tool in ("painter-brush", "painter-eraser", "painter-size", "painter-undo",
                 "painter-clear", "painter-price"):
        assert f'id="{tool}"' in html
    assert ">a harbour at dusk</textarea>" in html  # the image's own prompt to start from
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # no inline script (CSP)
    assert '<script src="/static/inpaint.js" defer></script>' in html
    script = await browser.get("/static/inpaint.js")
    assert script.status_code == 200 and "/api/v1/quotes" in script.text

    # what the page's JS does: the mask up, the price, then the job
    mask = await upload(browser, mask_png(256, 192, (64, 48, 192, 144)))
    body = {"tool": "inpaint", "options": {"prompt": "a lighthouse"},
            "images": {"image": media, "mask": mask}}
    headers = {"X-CSRF-Token": browser.csrf}
    quote = (await browser.client.post("/api/v1/quotes", json=body, headers=headers)).json()
    assert quote["fits"] and quote["params"]["width"] == 256 and quote["points"] > 0
    started = await browser.client.post("/api/v1/jobs", json=body, headers=headers)
    assert started.status_code == 202, started.text
    job = await station_app.jobs.wait(started.json()["id"], timeout=60)
    assert job.state == "succeeded" and job.cost == quote["points"]
    before = np.asarray(Image.open(io.BytesIO(await station_app.media.read(
        await station_app.media.get(media)))).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(await station_app.media.read(
        await station_app.media.get(job.outputs[0])))).convert("RGB"))
    assert (after[:48] == before[:48]).all()  # above the mask: untouched
    assert (after[48:144, 64:192] != before[48:144, 64:192]).any()


async def test_bad_masks_through_the_api_cost_nothing(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("bob")
    image = await upload(browser, mask_png(64, 48, (0, 0, 64, 48)))
    headers = {"X-CSRF-Token": browser.csrf}
    before = (await browser.client.get("/api/v1/account")).json()
    for mask_data, words in ((mask_png(48, 64, (0, 0, 8, 8)), "the mask is 48×64"),
                             (mask_png(64, 48, None), "the mask is empty")):
        body = {"tool": "inpaint", "options": {"prompt": "a hat"},
                "images": {"image": image, "mask": await upload(browser, mask_data)}}
        for url in ("/api/v1/quotes", "/api/v1/jobs"):
            refused = await browser.client.post(url, json=body, headers=headers)
            assert refused.status_code == 400, refused.text
            assert words in refused.json()["error"]["message"]
    broken = await browser.client.post(
        "/api/v1/media", files={"file": ("mask.png", b"\x89PNG broken", "image/png")},
        headers=headers)
    assert broken.status_code == 400
    assert (await browser.client.get("/api/v1/account")).json() == before
    assert (await browser.client.get("/api/v1/jobs")).json()["jobs"] == []


async def test_the_painter_is_for_the_images_owner_and_signed_in_browsers(
    web: Callable[[], Browser],
) -> None:
    alice, bob, stranger = web(), web(), web()
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    image = await upload(alice, mask_png(32, 32, None))
    assert (await alice.get(f"/media/{image}/inpaint")).status_code == 200
    assert (await bob.get(f"/media/{image}/inpaint")).status_code == 404
    away = await stranger.get(f"/media/{image}/inpaint")
    assert away.status_code == 303
    assert away.headers["location"] == f"/signin?next=/media/{image}/inpaint"
