"""Datasets through the API: create, upload with captions, caption inline, readiness,
export and import as zip; a training quoted, submitted and the model listed."""

from __future__ import annotations

import io
import zipfile

import httpx

from stationthis.workflows.app import App
from tests.api.conftest import error_of, finished
from tests.support.scripted import png


def images(n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"{i}.png", png(96, 96, (40 * i, 90, 200)), "image/png"))
            for i in range(n)]


async def test_a_dataset_from_upload_to_a_trained_model(
    app: App, alice: httpx.AsyncClient
) -> None:
    made = await alice.post("/api/v1/datasets", json={"name": "My cat", "trigger": "mycat"})
    assert made.status_code == 201
    dataset = made.json()
    assert dataset["readiness"]["ready"] is False
    added = await alice.post(f"/api/v1/datasets/{dataset['id']}/images", files=images(4),
                             data={"captions": ["mycat asleep", "mycat on a chair"]})
    assert added.status_code == 200, added.text
    view = added.json()["dataset"]
    assert added.json()["added"] == 4 and len(view["images"]) == 4
    assert view["images"][0]["caption"] == "mycat asleep" and view["images"][2]["caption"] is None
    assert "caption images 3, 4" in view["readiness"]["reason"]
    for image in view["images"][2:]:
        answer = await alice.put(
            f"/api/v1/datasets/{dataset['id']}/images/{image['id']}/caption",
            json={"caption": "mycat outside"})
        assert answer.status_code == 200
    ready = answer.json()["readiness"]
    assert ready["ready"] is True and ready["reason"] == "ready to train"
    duplicate = await alice.post("/api/v1/datasets", json={"name": "my CAT"})
    assert duplicate.status_code == 409

    exported = await alice.get(f"/api/v1/datasets/{dataset['id']}/export")
    names = zipfile.ZipFile(io.BytesIO(exported.content)).namelist()
    assert sorted(names)[:2] == ["001.png", "001.txt"] and len(names) == 8
    copy = (await alice.post("/api/v1/datasets", json={"name": "copy"})).json()
    imported = await alice.post(f"/api/v1/datasets/{copy['id']}/import",
                                files={"file": ("d.zip", exported.content, "application/zip")})
    assert imported.json()["added"] == 4 and imported.json()["dataset"]["readiness"]["ready"]

    body = {"dataset_id": dataset["id"], "options": {"steps": 100}, "name": "Whiskers"}
    quote = (await alice.post("/api/v1/trainings/quote", json=body)).json()
    assert quote["points"] == 1000 + 50 * 4 + 20 * 1 and quote["fits"] is False
    poor = await alice.post("/api/v1/trainings", json=body)
    assert poor.status_code == 402 and error_of(poor)["code"] == "insufficient_points"
    me = (await alice.get("/api/v1/auth/me")).json()
    await app.ledger.grant(me["id"], 500, key="t", memo="for training")
    job = await alice.post("/api/v1/trainings", json=body)
    assert job.status_code == 202, job.text
    assert job.json()["category"] == "train"
    assert (await finished(alice, job.json()["id"]))["state"] == "succeeded"
    models = (await alice.get("/api/v1/models")).json()
    assert [(m["name"], m["trigger"]) for m in models] == [("Whiskers", "mycat")]

    renamed = await alice.patch(f"/api/v1/datasets/{copy['id']}", json={"name": "Copy 2"})
    assert renamed.json()["name"] == "Copy 2"
    first = renamed.json()["images"][0]["id"]
    fewer = await alice.delete(f"/api/v1/datasets/{copy['id']}/images/{first}")
    assert len(fewer.json()["images"]) == 3 and not fewer.json()["readiness"]["ready"]
    assert (await alice.delete(f"/api/v1/datasets/{copy['id']}")).status_code == 200
    assert [d["name"] for d in (await alice.get("/api/v1/datasets")).json()] == ["My cat"]


async def test_a_dataset_that_is_not_ready_cannot_be_trained(alice: httpx.AsyncClient) -> None:
    dataset = (await alice.post("/api/v1/datasets", json={"name": "few"})).json()
    await alice.post(f"/api/v1/datasets/{dataset['id']}/images", files=images(2))
    refused = await alice.post("/api/v1/trainings", json={"dataset_id": dataset["id"]})
    assert refused.status_code == 400
    assert "add 2 more images" in error_of(refused)["message"]
    too_many = await alice.post(f"/api/v1/datasets/{dataset['id']}/images", files=images(19))
    assert too_many.status_code == 400 and "free slot" in error_of(too_many)["message"]
