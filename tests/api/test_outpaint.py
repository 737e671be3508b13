"""Zoom out (×1.5, ×2) and pan (left, up, right, down) through the API: priced first, the
outpaint tool with the right border, another user's image does not exist, a bad direction or
factor is refused free."""

from __future__ import annotations

import httpx

from tests.api.conftest import error_of, finished
from tests.api.test_media import jpeg, upload


async def balance(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/balance")).json()["total"])


async def test_zoom_out_and_pan_are_priced_then_run_as_outpaints(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    photo = (await upload(alice, jpeg(320, 240))).json()["id"]
    before = await balance(alice)
    quote = await alice.post(f"/api/v1/media/{photo}/zoom-out/quote", json={"factor": 2})
    assert quote.status_code == 200, quote.text
    assert quote.json()["tool"] == "outpaint" and quote.json()["points"] > 0
    assert (quote.json()["params"]["width"], quote.json()["params"]["height"]) == (640, 480)
    assert await balance(alice) == before  # a quote holds nothing

    zoomed = await alice.post(f"/api/v1/media/{photo}/zoom-out", json={"factor": 2})
    assert zoomed.status_code == 202, zoomed.text
    job = zoomed.json()
    assert (job["tool"], job["origin"], job["inputs"]) == ("outpaint", "zoom_out",
                                                          {"image": photo})
    assert {k: job["params"][k] for k in ("left", "top", "right", "bottom")} == {
        "left": 160, "top": 120, "right": 160, "bottom": 120}
    assert job["quote"] == quote.json()["points"]
    assert (await finished(alice, job["id"]))["state"] == "succeeded"

    sides = {}
    for direction in ("left", "up", "right", "down"):
        answer = await alice.post(f"/api/v1/media/{photo}/pan", json={"direction": direction})
        assert answer.status_code == 202, answer.text
        params = answer.json()["params"]
        sides[direction] = {k: params[k] for k in ("left", "top", "right", "bottom") if params[k]}
        assert answer.json()["origin"] == f"pan_{direction}"
        # one at a time: four at once would pass the test user's limit of 3 active jobs
        assert (await finished(alice, answer.json()["id"]))["state"] == "succeeded"
    assert sides == {"left": {"left": 160}, "up": {"top": 120}, "right": {"right": 160},
                     "down": {"bottom": 120}}  # half the image on one side

    # refused, free: someone else's image, a direction that is not one, too big a zoom
    for path, body in ((f"/api/v1/media/{photo}/pan", {"direction": "left"}),
                       (f"/api/v1/media/{photo}/zoom-out", {"factor": 1.5}),
                       (f"/api/v1/media/{photo}/pan/quote", {"direction": "left"})):
        assert (await bob.post(path, json=body)).status_code == 404, path
    bad = await alice.post(f"/api/v1/media/{photo}/pan", json={"direction": "sideways"})
    assert bad.status_code == 422 and "direction" in str(error_of(bad))
    huge = await alice.post(f"/api/v1/media/{photo}/zoom-out/quote", json={"factor": 9})
    assert huge.status_code == 422
