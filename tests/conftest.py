"""Shared fixtures: settings in a temp dir, migrated databases (SQLite and PostgreSQL), apps,
a Redis server.

PostgreSQL and Redis are started once per test session from the Debian packages
(tests/support). When one is not installed, its tests are skipped locally — but with
``CI=true`` or ``STATIONTHIS_REQUIRE_SERVICES=1`` they fail instead, so CI can never pass
without them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.migrations import upgrade
from stationthis.workflows.app import App
from tests.support.postgres import pg_available, postgres_server
from tests.support.redis import RedisServer, redis_available
from tests.support.scripted import ScriptedEngine

REQUIRE_SERVICES = os.environ.get("CI") == "true" or os.environ.get(
    "STATIONTHIS_REQUIRE_SERVICES"
) == "1"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    if not pg_available():
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL is required here (CI) but is not installed")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server() as url:
        upgrade(url)  # the test database becomes the template for per-test databases
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test (cloned from the template)."""
    import asyncpg

    base, _, template = pg_server.rpartition("/")
    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = base.replace("postgresql+asyncpg", "postgresql") + "/postgres"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway ``redis-server`` for the session; tests may stop/start it (same port)."""
    if not redis_available():
        if REQUIRE_SERVICES:
            pytest.fail("Redis is required here (CI) but redis-server is not installed")
        pytest.skip("Redis is not installed (apt-get install redis-server)")
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The Redis URL for one test: the server running and emptied."""
    redis_server.start()  # a test before may have stopped it
    assert redis_server.command("FLUSHALL") == "+OK"
    return redis_server.url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "stationthis.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs a storage test once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def make_settings(tmp_path: Path, sqlite_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": sqlite_url,
            "_env_file": None,
        }
        values.update(overrides)
        # No allowance refill in the middle of a test (a 15-minute tick can fall inside any
        # test and would make balances jump); refill itself is tested with explicit clocks.
        allowance = values.get("allowance")
        if isinstance(allowance, dict):
            values["allowance"] = {"interval_seconds": 4_000_000_000, **allowance}
        elif allowance is None:
            values["allowance"] = {"interval_seconds": 4_000_000_000}
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
async def app(settings: Settings, engine: ScriptedEngine) -> AsyncIterator[App]:
    """A started app on SQLite with the scripted engine."""
    app = build(settings, engine=engine)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def preview_app(settings: Settings) -> AsyncIterator[App]:
    """A started app with the real preview engine."""
    app = build(settings)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


# ----- a watchdog: a test that hangs says where, and never holds the whole run ---------------

_HANG_SECONDS = float(os.environ.get("STATIONTHIS_TEST_HANG_SECONDS", "300"))


def _dump_tasks(nodeid: str) -> None:
    import asyncio.tasks
    import sys
    import traceback

    print(f"\n=== {nodeid} has run for {_HANG_SECONDS:.0f} s; asyncio tasks:", file=sys.stderr)
    for task in list(asyncio.tasks._all_tasks):  # every loop's tasks (diagnostics only)
        if task.done():
            continue
        print(f"--- {task.get_name()}: {task.get_coro()!r}", file=sys.stderr)
        for frame in task.get_stack(limit=12):
            traceback.print_stack(frame, limit=1, file=sys.stderr)
    sys.stderr.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    import faulthandler
    import threading

    timer = threading.Timer(_HANG_SECONDS, _dump_tasks, args=(item.nodeid,))
    timer.daemon = True
    timer.start()
    # If it is still stuck a minute later, end the run with every thread's stack.
    faulthandler.dump_traceback_later(_HANG_SECONDS + 60, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        timer.cancel()
