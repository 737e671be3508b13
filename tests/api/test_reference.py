"""Reference images through the API on the preview engine: a quote first (holds nothing),
then a job of each reference tool with ``images: {"image": media_id}`` runs to a picture of
the reference's size; a missing image, another user's image or an unknown kind of tool is
refused clearly and nothing is held."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from stationthis.workflows.app import App
from tests.api.conftest import error_of, finished
from tests.api.test_media import jpeg, upload

KINDS = ("reference", "reference-pose", "reference-depth", "reference-style")


@pytest.fixture
def app(preview_app: App) -> App:  # the real preview engine behind the API
    return preview_app


async def total(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/balance")).json()["total"])


async def test_each_reference_tool_is_priced_then_follows_the_image(
    alice: httpx.AsyncClient
) -> None:
    listed = {t["name"]: t["category"] for t in (await alice.get("/api/v1/tools")).json()}
    assert {name: listed.get(name) for name in KINDS} == dict.fromkeys(KINDS, "reference")
    photo = (await upload(alice, jpeg(192, 128))).json()["id"]
    before = await total(alice)
    for tool in KINDS:
        body = {"tool": tool, "options": {"prompt": "a castle at dusk", "seed": 3},
                "images": {"image": photo}}
        quote = await alice.post("/api/v1/quotes", json=body)
        assert quote.status_code == 200, quote.text
        assert quote.json()["points"] > 0 and quote.json()["fits"]
        assert (quote.json()["params"]["width"], quote.json()["params"]["height"]) == (192, 128)
        assert await total(alice) == before  # a quote holds nothing
        made = await alice.post("/api/v1/jobs", json=body)
        assert made.status_code == 202, made.text
        assert made.json()["quote"] == quote.json()["points"]
        assert made.json()["inputs"] == {"image": photo}
        done = await finished(alice, made.json()["id"])
        assert done["state"] == "succeeded", done.get("error")
        assert done["cost"] == quote.json()["points"]
        before -= done["cost"]
        picture = await alice.get(f"/api/v1/media/{done['outputs'][0]}/file")
        assert picture.status_code == 200
        assert Image.open(io.BytesIO(picture.content)).size == (192, 128)
    assert await total(alice) == before


async def test_a_missing_or_foreign_image_is_refused_and_nothing_is_held(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    before = await total(alice)
    for path in ("/api/v1/quotes", "/api/v1/jobs"):
        answer = await alice.post(path, json={"tool": "reference",
                                              "options": {"prompt": "a castle"}})
        assert answer.status_code == 400, answer.text
        error = error_of(answer)
        assert "reference needs an input image" in error["message"]
        assert error["details"].get("input") == "image"
    theirs = (await upload(bob, jpeg(64, 64))).json()["id"]
    foreign = await alice.post("/api/v1/jobs", json={
        "tool": "reference", "options": {"prompt": "a castle"}, "images": {"image": theirs}})
    assert foreign.status_code == 404, foreign.text
    assert await total(alice) == before
    assert (await alice.get("/api/v1/jobs")).json()["jobs"] == []
