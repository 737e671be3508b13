"""``GET /api/v1/jobs`` reads a listing (one SELECT, JSON written without a model per job):
every item must be exactly what ``GET /api/v1/jobs/{id}`` shows for that job, whatever state
it is in, on both databases. And the list costs one read transaction on top of a remembered
key: no API-key lookup, no account read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import event

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.workflows.app import App
from tests.api.conftest import client_for, finished, sign_up
from tests.support.scripted import Script, ScriptedEngine

SECRET = "job-list-test-secret-0123456789abcdef"  # PostgreSQL needs one


@pytest.fixture
async def scripted_app(
    make_settings: Callable[..., Settings], db_url: str
) -> AsyncIterator[tuple[App, ScriptedEngine]]:
    engine = ScriptedEngine()
    app = build(make_settings(database_url=db_url, secret_key=SECRET), engine=engine)
    await app.start()
    try:
        yield app, engine
    finally:
        await app.stop()


async def test_each_listed_job_is_the_job_itself(
    scripted_app: tuple[App, ScriptedEngine],
) -> None:
    app, engine = scripted_app
    async with client_for(app) as alice:
        await sign_up(alice, "alice")
        engine.script(Script(outputs=2), Script(fail="out of memory"), Script(hang=True))
        made = [(await alice.post("/api/v1/jobs", json={"options": {
            "prompt": f"a fox {n}", "seed": n}})).json() for n in range(3)]
        image = (await finished(alice, made[0]["id"]))["outputs"][0]
        await finished(alice, made[1]["id"])
        rmbg = (await alice.post(f"/api/v1/media/{image}/rmbg")).json()  # an input image
        await finished(alice, rmbg["id"])
        tweak = (await alice.post(f"/api/v1/jobs/{made[0]['id']}/tweak",
                                  json={"changes": {"steps": 7}})).json()  # a parent
        await finished(alice, tweak["id"])

        listed = (await alice.get("/api/v1/jobs", params={"limit": 100})).json()["jobs"]
        assert len(listed) == 5
        states = {j["state"] for j in listed}
        assert {"succeeded", "failed"} <= states and states & {"queued", "running"}
        for item in listed:
            alone = (await alice.get(f"/api/v1/jobs/{item['id']}")).json()
            if item["state"] in ("queued", "running", "preparing"):  # the hung one moves on
                item, alone = _without_moving_parts(item), _without_moving_parts(alone)
            assert item == alone
        assert next(j for j in listed if j["id"] == rmbg["id"])["inputs"] == {"image": image}
        assert len(next(j for j in listed if j["id"] == made[0]["id"])["outputs"]) == 2
        assert [j["id"] for j in (await alice.get(
            "/api/v1/jobs", params={"state": "finished", "limit": 2})).json()["jobs"]] == [
            j["id"] for j in listed if j["state"] in ("succeeded", "failed", "cancelled")][:2]
        await alice.post(f"/api/v1/jobs/{made[2]['id']}/cancel")


def _without_moving_parts(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k not in ("state", "progress", "started_at")}


@pytest.fixture
async def web_node(make_settings: Callable[..., Settings], db_url: str) -> AsyncIterator[App]:
    """A web node: it runs no job, so nothing else touches the database meanwhile."""
    settings = make_settings(database_url=db_url, secret_key=SECRET)
    app = build(settings, role="web", engine=ScriptedEngine())
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def test_a_list_is_one_read_with_a_remembered_key(web_node: App) -> None:
    app = web_node
    async with client_for(app) as browser:
        await sign_up(browser, "bob")
        secret = (await browser.post("/api/v1/account/keys", json={"name": "s"})).json()["key"]
        for n in range(3):
            made = await browser.post("/api/v1/jobs", json={"options": {"prompt": f"fox {n}"}})
            assert made.status_code == 202
    async with client_for(app) as program:
        program.headers["Authorization"] = f"Bearer {secret}"
        assert (await program.get("/api/v1/jobs")).status_code == 200  # the key is read once
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement.split()[0].upper())

        sync_engine = app.db.engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", seen)
        try:
            answer = await program.get("/api/v1/jobs")
        finally:
            event.remove(sync_engine, "before_cursor_execute", seen)
    assert answer.status_code == 200 and len(answer.json()["jobs"]) == 3
    assert [s for s in statements if s not in ("BEGIN", "COMMIT", "ROLLBACK")] == ["SELECT"]
