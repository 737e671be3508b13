"""Settings, history with reproducibility cards, balance and ledger, identities."""

from __future__ import annotations

import httpx

from stationthis.workflows.app import App
from tests.api.conftest import error_of, finished


async def test_settings_fill_requests_and_are_checked(alice: httpx.AsyncClient) -> None:
    shown = (await alice.get("/api/v1/settings")).json()
    assert shown["tier"] == "free" and shown["items"]["steps"]["source"] == "default"
    assert shown["items"]["steps"]["high"] == 48
    changed = await alice.put("/api/v1/settings/steps", json={"value": 30})
    assert changed.status_code == 200
    assert changed.json()["items"]["steps"] == {**changed.json()["items"]["steps"],
                                                "value": 30, "source": "user"}
    size = (await alice.put("/api/v1/settings/size", json={"value": "768x512"})).json()
    assert (size["items"]["width"]["value"], size["items"]["height"]["value"]) == (768, 512)
    quote = (await alice.post("/api/v1/quotes", json={"options": {"prompt": "x"}})).json()
    assert (quote["params"]["steps"], quote["params"]["width"]) == (30, 768)
    too_many = await alice.put("/api/v1/settings/steps", json={"value": 500})
    assert too_many.status_code == 400 and "48" in error_of(too_many)["message"]
    reset = (await alice.delete("/api/v1/settings/steps")).json()
    assert reset["items"]["steps"]["source"] == "default"
    everything = (await alice.delete("/api/v1/settings")).json()
    assert everything["items"]["width"]["source"] == "default"


async def test_history_and_a_card_that_runs_again_with_the_same_seed(
    alice: httpx.AsyncClient
) -> None:
    job = (await alice.post("/api/v1/jobs", json={"options": {"prompt": "a fox", "seed": 11}})
           ).json()
    output = (await finished(alice, job["id"]))["outputs"][0]
    history = (await alice.get("/api/v1/history", params={"limit": 5})).json()
    assert [h["job_id"] for h in history] == [job["id"]]
    assert history[0]["seed"] == 11 and history[0]["duration_seconds"] is not None
    assert (await alice.get(f"/api/v1/history/{job['id']}")).json() == history[0]
    card = (await alice.get(f"/api/v1/media/{output}/card")).json()
    assert card["params"]["seed"] == 11 and card["job_id"] == job["id"]
    rerun = await alice.post("/api/v1/history/rerun", json={"card": card})
    assert rerun.status_code == 202
    assert rerun.json()["params"]["seed"] == 11 and rerun.json()["origin"] == "rerun"
    assert (await finished(alice, rerun.json()["id"]))["state"] == "succeeded"
    assert len((await alice.get("/api/v1/history", params={"tool": "make"})).json()) == 2
    assert (await alice.get("/api/v1/history", params={"tool": "upscale"})).json() == []


async def test_balance_ledger_and_identities(app: App, alice: httpx.AsyncClient) -> None:
    me = (await alice.get("/api/v1/auth/me")).json()
    await app.ledger.grant(me["id"], 250, key="test-grant", memo="a gift")
    balance = (await alice.get("/api/v1/balance")).json()
    assert (balance["allowance"], balance["credit"], balance["total"]) == (1000, 250, 1250)
    rows = (await alice.get("/api/v1/ledger", params={"limit": 1})).json()
    assert rows[0]["kind"] == "grant" and rows[0]["amount"] == 250 and rows[0]["memo"] == "a gift"
    assert (await alice.get("/api/v1/account/identities")).json() == {
        "account_id": me["id"], "identities": ["web:alice"]}
