"""``/api/v1/health``: the database and Redis, as a load balancer or an operator sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.workflows.app import App
from tests.api.conftest import client_for
from tests.support.redis import RedisServer
from tests.support.scripted import ScriptedEngine


@pytest.fixture
async def built(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., App]]:
    made: list[App] = []

    def make(**settings: object) -> App:
        app = build(make_settings(**settings), engine=ScriptedEngine())
        made.append(app)
        return app

    yield make
    for app in made:
        await app.signals.close()
        await app.stop()


async def test_without_redis_it_says_not_configured(built: Callable[..., App]) -> None:
    async with client_for(built()) as client:
        answer = await client.get("/api/v1/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["database"] == "ok" and body["redis"] == "not configured"
    assert body["status"] == "ok"


async def test_redis_down_is_reported_but_the_service_still_answers_200(
    built: Callable[..., App], redis_server: RedisServer, redis_url: str
) -> None:
    async with client_for(built(redis_url=redis_url)) as client:
        up = await client.get("/api/v1/health")
        assert up.status_code == 200 and up.json()["redis"] == "ok"
        redis_server.stop()
        try:
            down = await client.get("/api/v1/health")
        finally:
            redis_server.start()
    assert down.status_code == 200  # Redis is optional: jobs still run without it
    assert down.json()["redis"] == "down" and down.json()["database"] == "ok"
    assert down.json()["status"] == "degraded"


async def test_database_down_answers_503(built: Callable[..., App]) -> None:
    unreachable = "postgresql+asyncpg://nobody@127.0.0.1:1/x"  # nothing listens on port 1
    # (with PostgreSQL every process must share one secret key)
    app = built(database_url=unreachable, secret_key="health-check-test-secret-0123456789")
    async with client_for(app) as client:
        answer = await client.get("/api/v1/health")
    assert answer.status_code == 503
    assert answer.json()["database"] == "down" and answer.json()["status"] == "degraded"
