"""Tools, quotes and jobs: the price first, a job through to its images with a live event
stream, cancel, regenerate / variations / upscale / background removal, and error shapes."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.api.conftest import error_of, finished, read_events
from tests.support.scripted import Script, ScriptedEngine


async def test_tools_list_inputs_bounds_and_price(alice: httpx.AsyncClient) -> None:
    tools = (await alice.get("/api/v1/tools")).json()
    make = next(t for t in tools if t["name"] == "make")
    width = next(i for i in make["inputs"] if i["name"] == "width")
    assert width["type"] == "int" and width["min"] >= 1 and width["max"] >= width["default"]
    assert make["price"]["base"] == 10 and "batch" in make["price"]["formula"]
    assert {t["category"] for t in tools} >= {"txt2img", "img2img", "upscale", "rmbg"}
    missing = await alice.get("/api/v1/tools/nope")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


async def test_quote_then_a_job_runs_to_its_images(
    engine: ScriptedEngine, alice: httpx.AsyncClient
) -> None:
    engine.script(Script(outputs=2))
    body = {"tool": "make", "options": {"prompt": "a red fox", "seed": 7, "batch": 2}}
    quote = (await alice.post("/api/v1/quotes", json=body)).json()
    assert quote["points"] == 30 and quote["fits"] and quote["params"]["seed"] == 7
    assert (await alice.get("/api/v1/balance")).json()["total"] == 1000  # a quote holds nothing
    made = await alice.post("/api/v1/jobs", json=body)
    assert made.status_code == 202, made.text
    job = made.json()
    assert job["state"] == "queued" and job["quote"] == 30
    done = await finished(alice, job["id"])
    assert done["state"] == "succeeded" and done["cost"] == 30
    assert done["progress"]["percent"] == 100
    assert len(done["outputs"]) == 2
    assert (await alice.get(f"/api/v1/jobs/{job['id']}")).json()["state"] == "succeeded"
    listed = (await alice.get("/api/v1/jobs", params={"state": "finished"})).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert (await alice.get("/api/v1/jobs", params={"state": "active"})).json()["jobs"] == []
    balance = (await alice.get("/api/v1/balance")).json()
    assert balance["total"] == 970
    kinds = [row["kind"] for row in (await alice.get("/api/v1/ledger")).json()]
    assert "hold" in kinds and "capture" in kinds
    image = await alice.get(f"/api/v1/media/{done['outputs'][0]}/file")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


async def test_the_event_stream_shows_progress_and_ends_with_the_final_state(
    engine: ScriptedEngine, alice: httpx.AsyncClient
) -> None:
    engine.script(Script(steps=6, delay=0.2))  # progress is reported every 0.5 s
    job = (await alice.post("/api/v1/jobs", json={"options": {"prompt": "a fox"}})).json()
    events = await read_events(alice, job["id"])
    names = [name for name, _ in events]
    assert names[0] == "job" and names[-1] == "job"
    percents = [data["progress"]["percent"] for name, data in events if name == "progress"
                and data["progress"]["percent"] is not None]
    assert percents and percents == sorted(percents) and 0 < percents[-1] <= 100
    assert events[-1][1]["state"] == "succeeded"
    assert events[-1][1]["progress"]["percent"] == 100


async def test_a_failed_job_streams_its_error_and_costs_nothing(
    engine: ScriptedEngine, alice: httpx.AsyncClient
) -> None:
    engine.script(Script(fail="out of memory"))
    job = (await alice.post("/api/v1/jobs", json={"options": {"prompt": "a fox"}})).json()
    done = await finished(alice, job["id"])
    assert done["state"] == "failed" and "out of memory" in done["error"]
    assert (await alice.get("/api/v1/balance")).json()["total"] == 1000


async def test_cancel_releases_the_hold(engine: ScriptedEngine, alice: httpx.AsyncClient) -> None:
    engine.script(Script(hang=True))
    job = (await alice.post("/api/v1/jobs", json={"options": {"prompt": "a fox"}})).json()
    cancel = await alice.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert cancel.status_code == 200
    done = await finished(alice, job["id"])
    assert done["state"] == "cancelled"
    assert (await alice.get("/api/v1/balance")).json()["total"] == 1000
    again = await alice.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"


async def test_actions_on_a_job_and_its_image(alice: httpx.AsyncClient) -> None:
    job = (await alice.post("/api/v1/jobs", json={
        "options": {"prompt": "a fox", "seed": 3, "width": 512, "height": 512}})).json()
    first = await finished(alice, job["id"])
    image = first["outputs"][0]

    regen = (await alice.post(f"/api/v1/jobs/{job['id']}/regenerate")).json()
    assert regen["origin"] == "regenerate" and regen["parent_id"] == job["id"]
    assert (await finished(alice, regen["id"]))["state"] == "succeeded"

    tweak = (await alice.post(f"/api/v1/jobs/{job['id']}/tweak",
                              json={"changes": {"steps": 30}})).json()
    assert tweak["params"]["steps"] == 30 and tweak["params"]["seed"] == 3
    assert (await finished(alice, tweak["id"]))["state"] == "succeeded"

    price = (await alice.post(f"/api/v1/media/{image}/upscale/quote", json={"scale": 4})).json()
    up = (await alice.post(f"/api/v1/media/{image}/upscale", json={"scale": 4})).json()
    assert up["tool"] == "upscale" and up["quote"] == price["points"]
    assert (await finished(alice, up["id"]))["state"] == "succeeded"

    vary = (await alice.post(f"/api/v1/media/{image}/variations", json={"strength": 0.3})).json()
    assert vary["origin"] == "variation" and vary["params"]["prompt"] == "a fox"
    assert (await finished(alice, vary["id"]))["state"] == "succeeded"

    rmbg = (await alice.post(f"/api/v1/media/{image}/rmbg")).json()
    assert rmbg["tool"] == "rmbg" and rmbg["inputs"] == {"image": image}
    assert (await finished(alice, rmbg["id"]))["state"] == "succeeded"


async def test_insufficient_points_says_by_how_much_and_offers_cheaper(
    alice: httpx.AsyncClient
) -> None:
    body = {"options": {"prompt": "a fox", "width": 2048, "height": 2048, "batch": 6,
                        "steps": 48}}
    first = (await alice.post("/api/v1/jobs", json=body)).json()  # 624 of 1000 points
    assert (await finished(alice, first["id"]))["state"] == "succeeded"
    refused = await alice.post("/api/v1/jobs", json=body)
    assert refused.status_code == 402
    error = error_of(refused)
    assert error["code"] == "insufficient_points"
    assert error["details"]["available"] == 1000 - first["quote"]
    assert error["details"]["quote"] == first["quote"]
    cheaper = error["details"]["alternatives"]
    assert cheaper and all(a["points"] <= 1000 - first["quote"] for a in cheaper)
    assert len((await alice.get("/api/v1/jobs")).json()["jobs"]) == 1  # nothing new started


async def test_errors_have_one_shape(
    alice: httpx.AsyncClient, web: Callable[..., httpx.AsyncClient]
) -> None:
    unknown = await alice.post("/api/v1/jobs", json={"options": {"prompt": "x", "colour": 1}})
    assert unknown.status_code == 400 and error_of(unknown)["code"] == "invalid_input"
    bounds = await alice.post("/api/v1/jobs", json={"options": {"prompt": "x", "steps": 999}})
    assert bounds.status_code == 400 and "steps" in error_of(bounds)["message"]
    schema = await alice.post("/api/v1/jobs", json={"options": "not an object"})
    assert schema.status_code == 422
    error = error_of(schema)
    assert error["code"] == "validation_error" and error["details"]["errors"]
    not_json = await alice.post("/api/v1/jobs", content=b"{", headers={
        "content-type": "application/json"})
    assert not_json.status_code == 422 and error_of(not_json)["code"] == "validation_error"
    route = await alice.get("/api/v1/nothing-here")
    assert route.status_code == 404 and error_of(route)["code"] == "not_found"
    anonymous = await web().get("/api/v1/jobs")
    assert anonymous.status_code == 401 and error_of(anonymous)["code"] == "unauthorized"


async def test_too_many_jobs_at_once(engine: ScriptedEngine, alice: httpx.AsyncClient) -> None:
    engine.script(*[Script(hang=True)] * 3)
    for _ in range(3):
        assert (await alice.post("/api/v1/jobs", json={"options": {"prompt": "x"}})
                ).status_code == 202
    fourth = await alice.post("/api/v1/jobs", json={"options": {"prompt": "x"}})
    assert fourth.status_code == 429 and error_of(fourth)["code"] == "too_many_jobs"
    status = (await alice.get("/api/v1/status")).json()
    assert len(status) == 3 and all(s["state"] in ("queued", "running") for s in status)
    for job in (await alice.get("/api/v1/jobs")).json()["jobs"]:
        await alice.post(f"/api/v1/jobs/{job['id']}/cancel")
