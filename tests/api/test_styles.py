"""Styles and wildcard lists over the REST API: save, read, list, use (the job gets the
styled prompt, the drawn wildcards and, through the card, shows them), remove; another
user's are not there (404) and cannot be used; bad ones are a 400 that says why."""

from __future__ import annotations

import httpx

from tests.api.conftest import error_of, finished


async def test_a_style_and_a_list_saved_used_and_removed(alice: httpx.AsyncClient) -> None:
    saved = await alice.put("/api/v1/styles/Noir", json={
        "template": "film noir photo of {prompt}", "negative": "colour",
        "defaults": {"steps": 12, "ar": "16:9"}})
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"name": "noir", "template": "film noir photo of {prompt}",
                            "negative": "colour", "defaults": {"steps": 12, "ar": "16:9"}}
    made = await alice.put("/api/v1/wildcards/colours", json={"items": ["teal", "red:3"]})
    assert made.json() == {"name": "colours", "items": [{"value": "teal", "weight": 1.0},
                                                        {"value": "red", "weight": 3.0}]}
    assert [s["name"] for s in (await alice.get("/api/v1/styles")).json()] == ["noir"]
    assert (await alice.get("/api/v1/wildcards/colours")).status_code == 200

    body = {"tool": "make", "options": {"prompt": "a __colours__ fox", "style": "noir",
                                        "seed": 8}}
    job_id = (await alice.post("/api/v1/jobs", json=body)).json()["id"]
    job = await finished(alice, job_id)
    params = (await alice.get(f"/api/v1/jobs/{job['id']}")).json()["params"]
    assert params["prompt"] in ("film noir photo of a teal fox", "film noir photo of a red fox")
    assert (params["negative"], params["steps"]) == ("colour", 12)
    media_id = job["outputs"][0]
    card = (await alice.get(f"/api/v1/media/{media_id}/card")).json()
    assert card["params"]["_style"] == "noir"  # the card says what made the prompt
    [drawn] = card["params"]["_wildcards"]
    assert drawn["source"] == "__colours__" and drawn["value"] in params["prompt"]

    assert (await alice.delete("/api/v1/styles/noir")).status_code == 200
    assert (await alice.get("/api/v1/styles/noir")).status_code == 404
    assert (await alice.delete("/api/v1/wildcards/colours")).status_code == 200
    assert (await alice.get("/api/v1/wildcards")).json() == []


async def test_another_users_styles_are_not_there(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    await alice.put("/api/v1/styles/noir", json={"template": "noir, {prompt}"})
    await alice.put("/api/v1/wildcards/colours", json={"items": ["teal"]})
    assert (await bob.get("/api/v1/styles/noir")).status_code == 404
    assert (await bob.get("/api/v1/wildcards/colours")).status_code == 404
    assert (await bob.delete("/api/v1/styles/noir")).status_code == 404
    assert (await bob.get("/api/v1/styles")).json() == []
    used = await bob.post("/api/v1/jobs", json={"options": {"prompt": "a fox --style noir"}})
    assert used.status_code == 400
    assert error_of(used)["message"].startswith("there is no style 'noir' (your styles: none")
    drawn = await bob.post("/api/v1/jobs", json={"options": {"prompt": "a __colours__ fox"}})
    assert error_of(drawn)["message"] == ("there is no wildcard list __colours__ (your lists: "
                                          "none yet)")
    assert (await bob.get("/api/v1/balance")).json()["total"] == 1000
    assert (await alice.get("/api/v1/styles/noir")).status_code == 200


async def test_bad_styles_and_lists_are_refused_saying_why(alice: httpx.AsyncClient) -> None:
    for name, body, message in (
        ("noir", {"template": ""}, "a style needs a prompt template"),
        ("no ir", {"template": "x"}, "the name of a style is 1–40 letters"),
        ("noir", {"template": "x", "defaults": {"seed": 4}}, "a style cannot set 'seed'"),
        ("noir", {"template": "x", "defaults": {"ar": "wide"}}, "the style's ar is W:H"),
    ):
        answer = await alice.put(f"/api/v1/styles/{name}", json=body)
        assert answer.status_code == 400, answer.text
        assert error_of(answer)["message"].startswith(message)
    answer = await alice.put("/api/v1/wildcards/colours", json={"items": []})
    assert error_of(answer)["message"] == "a wildcard list needs at least one item"
