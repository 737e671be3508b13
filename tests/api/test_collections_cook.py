"""Cook mode over the REST API (scripted engine): configure, preview, quote, start to the
end, review (keep / reject / regenerate), pause / resume, cancel with its holds released,
export zips and a dataset made from a collection."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import error_of
from tests.api.test_collections import API, new_collection, upload
from tests.support.scripted import Script, ScriptedEngine

CONFIG: dict[str, Any] = {
    "master_prompt": "a [animal] in the [place]",
    "trait_types": [
        {"name": "animal", "traits": [{"name": "fox", "prompt": "red fox", "weight": 3},
                                      {"name": "owl"}]},
        {"name": "place", "traits": [{"name": "forest"}, {"name": "city", "weight": 0.5}]},
    ],
    "supply": 3,
    "seed": 11,
}
PRICE = 15  # make at its defaults


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine(Script(delay=0.02))


async def cooked(client: httpx.AsyncClient, **changes: Any) -> str:
    c = await new_collection(client, "Critters")
    answer = await client.put(f"{API}/{c['id']}/cook", json={**CONFIG, **changes})
    assert answer.status_code == 200, answer.text
    return str(c["id"])


async def until(client: httpx.AsyncClient, cid: str, check: Callable[[dict[str, Any]], bool],
                timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            status: dict[str, Any] = (await client.get(f"{API}/{cid}/cook/status")).json()
            if check(status):
                return status
            await asyncio.sleep(0.05)


async def test_configure_preview_quote_and_bad_configurations(alice: httpx.AsyncClient) -> None:
    cid = await cooked(alice)
    config = (await alice.get(f"{API}/{cid}/cook")).json()
    assert config["supply"] == 3 and config["seed"] == 11 and len(config["hash"]) == 64
    assert config["trait_types"][0]["traits"][1] == {"name": "owl", "prompt": "owl",
                                                     "weight": 1.0}
    preview = (await alice.get(f"{API}/{cid}/cook/preview", params={"count": 2})).json()
    assert [p["number"] for p in preview] == [1, 2]
    for plan in preview:
        traits = {a["trait_type"]: a["value"] for a in plan["attributes"]}
        animal = "red fox" if traits["animal"] == "fox" else traits["animal"]
        assert plan["prompt"] == f"a {animal} in the {traits['place']}"
    quote = (await alice.get(f"{API}/{cid}/cook/quote")).json()
    assert quote["pieces"] == 3 and quote["per_piece"] == PRICE
    assert quote["points"] == 3 * PRICE and quote["enough"] and quote["fits"] == 3

    unknown = await alice.put(f"{API}/{cid}/cook", json={**CONFIG,
                                                        "master_prompt": "a [colour] fox"})
    assert unknown.status_code == 400
    assert "no trait type named 'colour'" in error_of(unknown)["message"]
    weight = await alice.put(f"{API}/{cid}/cook", json={
        **CONFIG, "trait_types": [{"name": "animal", "traits": [{"name": "fox",
                                                                 "weight": 0}]}]})
    assert weight.status_code == 422
    supply = await alice.put(f"{API}/{cid}/cook", json={**CONFIG, "supply": 100_000})
    assert supply.status_code == 400 and "over the limit" in error_of(supply)["message"]
    # nothing of it was saved
    assert (await alice.get(f"{API}/{cid}/cook")).json()["hash"] == config["hash"]

    bare = await new_collection(alice, "Bare")
    missing = await alice.get(f"{API}/{bare['id']}/cook/quote")
    assert missing.status_code == 400 and "no cook configuration" in error_of(missing)["message"]
    not_yet = await alice.get(f"{API}/{cid}/cook/status")
    assert not_yet.status_code == 404 and "not been cooked" in error_of(not_yet)["message"]


async def test_a_run_to_the_end_then_review_and_export(alice: httpx.AsyncClient) -> None:
    cid = await cooked(alice)
    before = (await alice.get("/api/v1/balance")).json()["total"]
    started = await alice.post(f"{API}/{cid}/cook/start", json={})
    assert started.status_code == 202, started.text
    assert started.json()["total"] == 3
    done = await until(alice, cid, lambda s: s["state"] == "finished")
    assert done["progress"] == "3/3" and done["failed"] == 0
    assert (await alice.get("/api/v1/balance")).json()["total"] == before - 3 * PRICE

    pieces = (await alice.get(f"{API}/{cid}/cook/pieces")).json()
    assert [p["state"] for p in pieces] == ["done"] * 3
    assert all(p["thumbnail_url"] for p in pieces)

    kept = await alice.post(f"{API}/{cid}/cook/pieces/1/keep")
    assert kept.status_code == 200 and kept.json()["name"] == "Critters #1"
    assert kept.json()["attributes"] == pieces[0]["attributes"] and kept.json()["from_cook"]
    await alice.post(f"{API}/{cid}/cook/pieces/2/keep")
    rejected = await alice.post(f"{API}/{cid}/cook/pieces/3/reject")
    assert rejected.json()["review"] == "rejected"
    items = (await alice.get(f"{API}/{cid}/items")).json()["items"]
    assert [i["name"] for i in items] == ["Critters #1", "Critters #2"]

    again = await alice.post(f"{API}/{cid}/cook/pieces/2/regenerate")
    assert again.status_code == 200 and again.json()["attempt"] == 1
    assert again.json()["attributes"] == pieces[1]["attributes"]  # same traits
    remade = await until(alice, cid, lambda s: s["state"] == "finished" and s["done"] == 3)
    assert remade["kept"] == 1  # the regenerated piece left the collection
    piece2 = (await alice.get(f"{API}/{cid}/cook/pieces")).json()[1]
    assert piece2["media_id"] != pieces[1]["media_id"]
    await alice.post(f"{API}/{cid}/cook/pieces/2/keep")

    nft = await alice.get(f"{API}/{cid}/export", params={"layout": "nft"})
    assert nft.status_code == 200 and nft.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(nft.content))
    assert sorted(archive.namelist()) == ["collection.json", "images/1.png", "images/2.png",
                                          "metadata/1.json", "metadata/2.json"]
    meta = json.loads(archive.read("metadata/1.json"))
    assert meta["name"] == "Critters #1" and meta["image"] == "images/1.png"
    assert meta["attributes"] == pieces[0]["attributes"]
    whole = json.loads(archive.read("collection.json"))
    assert whole["supply"] == 2 and whole["cook"]["master_prompt"] == CONFIG["master_prompt"]
    assert archive.read("images/1.png").startswith(b"\x89PNG")

    captions = zipfile.ZipFile(io.BytesIO(
        (await alice.get(f"{API}/{cid}/export", params={"layout": "captions"})).content))
    assert sorted(captions.namelist()) == ["001.png", "001.txt", "002.png", "002.txt"]
    assert captions.read("001.txt").decode() == pieces[0]["prompt"]


async def test_pause_resume_and_cancel(engine: ScriptedEngine, alice: httpx.AsyncClient,
                                       bob: httpx.AsyncClient) -> None:
    engine.default = Script(steps=5, delay=0.1)
    cid = await cooked(alice, supply=6)
    before = (await alice.get("/api/v1/balance")).json()["total"]
    await alice.post(f"{API}/{cid}/cook/start", json={})
    paused = await alice.post(f"{API}/{cid}/cook/pause")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert paused.json()["in_flight"] == 3  # the per-user job limit
    settled = await until(alice, cid, lambda s: s["in_flight"] == 0)
    assert settled["state"] == "paused" and settled["done"] == 3 and settled["pending"] == 3
    twice = await alice.post(f"{API}/{cid}/cook/pause")
    assert twice.status_code == 409 and "not running" in error_of(twice)["message"]
    quote = (await alice.get(f"{API}/{cid}/cook/quote")).json()
    assert quote["pieces"] == 3  # only what is left

    # bob, with view access, sees the progress but cannot steer the run
    await alice.put(f"{API}/{cid}/shares", json={"user": "bob"})
    assert (await bob.get(f"{API}/{cid}/cook/status")).json()["progress"] == "3/6"
    steer = await bob.post(f"{API}/{cid}/cook/resume")
    assert steer.status_code == 403

    resumed = await alice.post(f"{API}/{cid}/cook/resume")
    assert resumed.json()["state"] == "running"
    cancelled = await alice.post(f"{API}/{cid}/cook/cancel")
    assert cancelled.json()["state"] == "cancelled"
    await until(alice, cid, lambda s: s["in_flight"] == 0)
    rows = (await alice.get("/api/v1/ledger", params={"limit": 500})).json()
    held = {r["ref"] for r in rows if r["kind"] == "hold"}
    settled = {r["ref"] for r in rows if r["kind"] in ("capture", "release")}
    assert held and held <= settled  # the cancelled pieces' holds were released
    assert any(r["kind"] == "release" for r in rows)
    final = (await alice.get(f"{API}/{cid}/cook/status")).json()
    balance = (await alice.get("/api/v1/balance")).json()
    assert balance["total"] == before - final["done"] * PRICE
    assert (await alice.post(f"{API}/{cid}/cook/cancel")).status_code == 409

    restarted = await alice.post(f"{API}/{cid}/cook/start", json={})
    assert restarted.json()["recognised"] and restarted.json()["run_id"] == final["run_id"]
    end = await until(alice, cid, lambda s: s["state"] == "finished")
    # pending pieces are made; those cancelled in flight wait for "regenerate"
    assert end["done"] + end["failed"] == 6 and end["failed"] >= 1
    cancelled_piece = next(p for p in (await alice.get(f"{API}/{cid}/cook/pieces")).json()
                           if p["state"] == "cancelled")
    retried = await alice.post(f"{API}/{cid}/cook/pieces/{cancelled_piece['number']}/regenerate")
    assert retried.status_code == 200, retried.text
    assert (await until(alice, cid, lambda s: s["state"] == "finished"))["done"] == end["done"] + 1


async def test_a_dataset_from_a_collection(alice: httpx.AsyncClient) -> None:
    c = await new_collection(alice, "Style")
    for n in range(4):
        await upload(alice, c["id"], (n * 50, 10, 10), description=f"picture {n}")
    made = await alice.post(f"{API}/{c['id']}/dataset", json={"name": "style set"})
    assert made.status_code == 201, made.text
    dataset = made.json()
    assert dataset["name"] == "style set"
    assert [i["caption"] for i in dataset["images"]] == [f"picture {n}" for n in range(4)]
    empty = await new_collection(alice, "Empty")
    refused = await alice.post(f"{API}/{empty['id']}/dataset", json={"name": "nothing"})
    assert refused.status_code == 400 and "no items" in error_of(refused)["message"]
    names = [d["name"] for d in (await alice.get("/api/v1/datasets")).json()]
    assert names == ["style set"]  # the refused one left nothing behind
