"""The admin console (/admin) over the real app: admins only (anyone else gets a 404), a
grant with a reason writes a ledger row and an audit entry; /metrics needs its Bearer token
(and does not exist without one); JSON log lines carry the request, job and user ids and no
secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from stationthis import logs
from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.events import Event, JobProgressed
from stationthis.core.users import Identity
from stationthis.platforms.web.app import create_app
from stationthis.workflows.app import App
from tests.web_pages.conftest import Browser

TOKEN = "metrics-secret-0123456789"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


@pytest.fixture
async def station(make_settings: Callable[..., Settings]) -> AsyncIterator[App]:
    settings = make_settings(new_user_grant=5000, metrics_token=TOKEN,
                             telegram_token=BOT_TOKEN)
    async with build(settings) as app:
        yield app


@pytest.fixture
async def client(station: App) -> AsyncIterator[Callable[[], Browser]]:
    asgi = create_app(station, manage_lifecycle=False)
    clients: list[httpx.AsyncClient] = []

    def new() -> Browser:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://t")
        clients.append(c)
        return Browser(c)

    yield new
    for c in clients:
        await c.aclose()


async def admin_of(station: App, name: str) -> None:
    assert station.operators is not None
    account = await station.users.resolve(Identity("web", name))
    await station.operators.set_admin(None, account, True)


async def test_only_admins_see_the_console(station: App, client: Callable[[], Browser]) -> None:
    anonymous = client()
    assert (await anonymous.get("/admin")).status_code == 303  # sign in first
    mallory = client()
    await mallory.sign_up("mallory")
    for path in ("/admin", "/admin/users", "/admin/moderation", "/admin/audit", "/admin/jobs"):
        assert (await mallory.get(path)).status_code == 404, path
    victim = await station.users.resolve(Identity("web", "mallory"))
    forged = await mallory.post(f"/admin/users/{victim.id}/grant",
                                {"amount": "999", "reason": "me"})
    assert forged.status_code == 404
    assert (await station.ledger.balance(victim.id)).total == 6000  # the grant and the allowance


async def test_an_admin_finds_a_user_and_grants_points_with_a_reason(
    station: App, client: Callable[[], Browser]
) -> None:
    bob = client()
    await bob.sign_up("bob")
    root = client()
    await root.sign_up("root")
    await admin_of(station, "root")
    overview = await root.get("/admin")
    assert overview.status_code == 200 and "Jobs" in overview.text and "Workers" in overview.text
    found = await root.get("/admin/users", params={"q": "bo"})
    assert "bob" in found.text
    account = await station.users.resolve(Identity("web", "bob"))
    page = await root.get(f"/admin/users/{account.id}")
    assert page.status_code == 200 and "web:bob" in page.text
    refused = await root.post(f"/admin/users/{account.id}/grant", {"amount": "250", "reason": ""})
    assert refused.status_code == 400 and "say why" in refused.text
    done = await root.post(f"/admin/users/{account.id}/grant",
                           {"amount": "250", "reason": "contest winner"})
    assert done.status_code == 303
    assert (await station.ledger.balance(account.id)).total == 6250
    audit = await root.get("/admin/audit")
    assert "contest winner" in audit.text and "grant" in audit.text and "root" in audit.text
    await root.post(f"/admin/users/{account.id}/deduct", {"amount": "50", "reason": "refund"})
    await root.post(f"/admin/users/{account.id}/ban", {"reason": "spam"})
    assert (await station.users.get(account.id)).banned
    assert (await station.ledger.balance(account.id)).total == 6200
    assert await station.ledger.verify(account.id)
    assert station.operators is not None
    actions = [e.action for e in await station.operators.recent_audit()]
    assert actions == ["ban", "deduct", "grant", "admin"]


async def test_metrics_need_the_token(station: App, client: Callable[[], Browser]) -> None:
    web = client()
    assert (await web.client.get("/metrics")).status_code == 401
    wrong = await web.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    user = client()
    await user.sign_up("carol")
    ok = await web.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
    for name in ("stationthis_jobs", "stationthis_ledger_rows_total", "stationthis_run_seconds",
                 "stationthis_queue_wait_seconds", "stationthis_webhooks_refused_total",
                 "stationthis_notifications_sent_total", "stationthis_engine_errors_total"):
        assert name in ok.text, name
    assert 'stationthis_ledger_rows_total{kind="allowance"}' in ok.text


async def test_metrics_time_each_finished_job_from_its_event(
    station: App, client: Callable[[], Browser]
) -> None:
    """Queue wait and run time per tool land in the histograms as each job finishes (the
    final event carries the times: metrics read no job row)."""
    from stationthis.workflows.make_image import Request

    web = client()
    before = (await web.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}))
    assert 'stationthis_run_seconds_count{state="succeeded",tool="make"}' not in before.text
    dora = await station.users.resolve(Identity("test", "dora"))
    job = await station.make_image.make(dora, Request("make", {"prompt": "a fox"}))
    assert (await station.jobs.wait(job.id, timeout=20)).state == "succeeded"
    after = (await web.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}))
    assert 'stationthis_run_seconds_count{state="succeeded",tool="make"} 1.0' in after.text
    assert 'stationthis_queue_wait_seconds_count{tool="make"} 1.0' in after.text


async def test_metrics_do_not_exist_without_a_token(
    make_settings: Callable[..., Settings]
) -> None:
    async with build(make_settings()) as app:
        transport = httpx.ASGITransport(app=create_app(app, manage_lifecycle=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/metrics")).status_code == 404
            assert (await c.get("/metrics", headers={"Authorization": "Bearer "})).status_code \
                == 404


async def test_json_logs_carry_ids_and_no_secret(
    station: App, client: Callable[[], Browser]
) -> None:
    stream = io.StringIO()
    handler = logs.install(logging.StreamHandler(stream), "json")
    root = logging.getLogger()
    root.addHandler(handler)
    level = logging.getLogger("stationthis").level
    logging.getLogger("stationthis").setLevel(logging.INFO)
    async def on_progress(event: Event) -> None:  # runs inside the job's task
        logging.getLogger("stationthis.test.progress").info("progress of a job")

    unsubscribe = station.bus.subscribe(on_progress, JobProgressed)
    try:
        web = client()
        await web.sign_up("dora")
        key = await station.auth.create_api_key(
            await station.users.resolve(Identity("web", "dora")), "ci")
        secret = key.secret
        api = await web.client.post(
            "/api/v1/jobs", json={"tool": "make", "options": {"prompt": "a fox", "steps": 2}},
            headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "req-0123456789"})
        assert api.status_code in (200, 201, 202), api.text
        job_id = api.json()["id"]
        await station.jobs.wait(job_id, timeout=20)
        logging.getLogger("stationthis.test").info(
            "calling https://api.telegram.org/bot%s/getMe with key %s", BOT_TOKEN, secret)
    finally:
        unsubscribe()
        root.removeHandler(handler)
        logging.getLogger("stationthis").setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    text = stream.getvalue()
    assert BOT_TOKEN.split(":")[1] not in text and secret not in text
    access = [e for e in lines if e["logger"] == "stationthis.web.access"
              and "/api/v1/jobs" in e["message"]]
    assert access and access[0]["request_id"] == "req-0123456789"
    assert access[0].get("user_id")
    in_job = [e for e in lines if e["logger"] == "stationthis.test.progress"]
    assert in_job and all(e.get("job_id") == job_id and e.get("user_id") for e in in_job)
