"""The styles page and the studio's style select, through the real app (preview engine):
save a style and a list from the page, pick the style in the studio's prompt bar and draw
from the list, see both on the image's reproducibility card; a bad one is shown on the page;
remove them."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from stationthis.core.users import Identity
from stationthis.workflows.app import App
from tests.web_pages.conftest import Browser


async def test_manage_styles_pick_one_in_the_studio_and_see_the_card(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    studio = (await browser.get("/")).text
    assert 'href="/styles"' in studio and 'name="style"' not in studio  # none saved yet
    empty = await browser.get("/styles")
    assert "No styles yet." in empty.text

    saved = await browser.post("/styles", {"name": "noir", "template": "film noir, {prompt}",
                                           "negative": "colour", "steps": "12"})
    assert saved.status_code == 303, saved.text
    listed = await browser.post("/styles/wildcards", {"name": "colours",
                                                      "items": "teal\nred:3"})
    assert listed.status_code == 303
    page = html.unescape((await browser.get("/styles")).text)
    assert "film noir, {prompt}" in page and "steps 12" in page
    assert "__colours__" in page and "teal, red:3" in page
    bad = await browser.post("/styles", {"name": "no ir", "template": "x"})
    assert bad.status_code == 400 and "the name of a style is 1–40" in html.unescape(bad.text)

    studio = (await browser.get("/")).text
    assert '<option value="noir" >noir</option>' in studio
    made = await browser.post("/studio/run", {"tool": "make", "style": "noir", "seed": "4",
                                              "prompt": "a __colours__ fox"})
    assert made.status_code == 303, made.text
    job_id = made.headers["location"].removeprefix("/jobs/")
    job = await station_app.jobs.wait(job_id, timeout=60)
    assert job.params["prompt"] in ("film noir, a teal fox", "film noir, a red fox")
    assert (job.params["negative"], job.params["steps"]) == ("colour", 12)
    card = html.unescape((await browser.get(f"/gallery/{job.outputs[0]}")).text)
    assert "style:  noir" in card
    assert re.search(r"drawn:  __colours__ → (teal|red)", card)

    unknown = await browser.post("/studio/run", {"tool": "make", "style": "gone",
                                                 "prompt": "a fox"})
    assert unknown.status_code == 400
    assert "there is no style &#39;gone&#39; (your styles: noir)" in unknown.text
    me = await station_app.users.resolve(Identity("web", "alice"))
    assert len(await station_app.jobs.recent(me.id, limit=5)) == 1

    assert (await browser.post("/styles/noir/remove")).status_code == 303
    assert (await browser.post("/styles/wildcards/colours/remove")).status_code == 303
    after = (await browser.get("/styles")).text
    assert "No styles yet." in after and "No lists yet." in after
