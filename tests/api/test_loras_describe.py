"""The API on the preview engine: GET /api/v1/loras lists the servers' LoRAs with what the
operator set; a LoRA named in a job's options is priced by its factor and an unknown one is
refused free; a describe job's result carries its prompts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.workflows.app import App
from tests.api.conftest import error_of
from tests.support.scripted import png


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    app = build(settings)  # the preview engine: its LoRAs and its describer are real
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def done(client: httpx.AsyncClient, job_id: str) -> dict[str, object]:
    for _ in range(600):
        body: dict[str, object] = (await client.get(f"/api/v1/jobs/{job_id}")).json()
        if body["state"] in ("succeeded", "failed", "cancelled"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("the job did not finish")


async def test_loras_are_listed_priced_and_checked(app: App, alice: httpx.AsyncClient) -> None:
    assert app.server_loras is not None
    await app.server_loras.set("preview-neon", name="Neon", triggers=["neonlit"],
                               price_factor=1.5, preview="https://example.com/neon.png")
    await app.server_loras.set("preview-pixel", hidden=True)
    listed = (await alice.get("/api/v1/loras")).json()
    assert [lora["name"] for lora in listed] == ["Neon", "preview-ink", "preview-sepia"]
    assert listed[0] == {"name": "Neon", "file_name": "preview-neon.safetensors",
                         "triggers": ["neonlit"], "preview": "https://example.com/neon.png",
                         "price_factor": 1.5}

    plain = (await alice.post("/api/v1/quotes", json={"tool": "make",
                                                      "options": {"prompt": "a fox"}})).json()
    neon = (await alice.post("/api/v1/quotes", json={
        "tool": "make", "options": {"prompt": "a fox", "loras": ["Neon"]}})).json()
    assert neon["points"] == -(-plain["points"] * 3 // 2)
    assert neon["params"]["server_loras"] == {"Neon": "preview-neon.safetensors"}

    before = (await alice.get("/api/v1/account")).json()
    refused = await alice.post("/api/v1/jobs", json={
        "tool": "make", "options": {"prompt": "a fox <lora:Neom>"}})
    assert refused.status_code == 404
    assert "did you mean Neon" in error_of(refused)["message"]
    assert (await alice.get("/api/v1/account")).json() == before


async def test_a_describe_job_carries_its_prompts(app: App, alice: httpx.AsyncClient) -> None:
    upload = await alice.post("/api/v1/media", files={"file": ("p.png", png(96, 64, (30, 60, 200)),
                                                               "image/png")})
    assert upload.status_code == 201, upload.text
    started = await alice.post("/api/v1/jobs", json={
        "tool": "describe", "images": {"image": upload.json()["id"]}})
    assert started.status_code == 202, started.text
    body = await done(alice, started.json()["id"])
    assert body["state"] == "succeeded", body
    prompts = body["prompts"]
    assert isinstance(prompts, list) and 3 <= len(prompts) <= 4
    assert any("blue" in p for p in prompts), prompts
    listed = (await alice.get("/api/v1/jobs", params={"state": "all"})).json()["jobs"]
    assert [j["prompts"] for j in listed if j["id"] == body["id"]] == [prompts]
    run = await alice.post("/api/v1/jobs", json={"tool": "make",
                                                 "options": {"prompt": prompts[0]}})
    assert run.status_code == 202, run.text
