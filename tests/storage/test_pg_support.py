"""The test session's throwaway PostgreSQL server starts, answers and is cleaned up."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import postgres as pg
from tests.support.postgres import DATABASE, find_pg_bin, pg_available, postgres_server

# Like tests/conftest.py: in CI a missing PostgreSQL fails these tests instead of skipping them.
REQUIRE_SERVICES = (
    os.environ.get("CI") == "true" or os.environ.get("STATIONTHIS_REQUIRE_SERVICES") == "1"
)
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not pg_available() and not REQUIRE_SERVICES, reason="PostgreSQL is not installed"
    ),
]


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def test_binaries_are_found() -> None:
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    assert (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists()


async def test_server_answers_select_1_and_reports_its_version(server_url: str) -> None:
    assert re.fullmatch(rf"postgresql\+asyncpg://postgres@127\.0\.0\.1:\d+/{DATABASE}", server_url)
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        assert await conn.fetchval("select 1") == 1
        version = await conn.fetchval("show server_version")
        assert await conn.fetchval("select current_database()") == DATABASE
        assert await conn.fetchval("show fsync") == "off"
        assert await conn.fetchval("show server_encoding") == "UTF8"
    finally:
        await conn.close()
    assert re.match(r"\d+(\.\d+)?", version)
    assert conn.get_server_version().major >= 12


async def test_the_url_works_with_sqlalchemy(server_url: str) -> None:
    engine = create_async_engine(server_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("select 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_many_concurrent_connections_are_allowed(server_url: str) -> None:
    conns = await asyncio.gather(*(asyncpg.connect(asyncpg_dsn(server_url)) for _ in range(120)))
    try:
        assert len({await c.fetchval("select pg_backend_pid()") for c in conns}) == 120
    finally:
        await asyncio.gather(*(c.close() for c in conns))


def server_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("stationthis-pg-*"))


def test_exit_stops_the_server_and_removes_its_directory() -> None:
    before = server_dirs()
    with postgres_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        ours = server_dirs() - before
        assert len(ours) == 1
        assert (next(iter(ours)) / "data" / "postmaster.pid").exists()
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert not next(iter(ours)).exists()


def test_a_server_that_fails_to_start_reports_its_log_and_cleans_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pg, "_SERVER_OPTIONS", "-c no_such_setting=1")
    before = server_dirs()
    with pytest.raises(RuntimeError) as err, postgres_server():
        pass
    assert "did not start" in str(err.value)
    assert 'unrecognized configuration parameter "no_such_setting"' in str(err.value)
    assert server_dirs() == before


def test_missing_binaries_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg, "find_pg_bin", lambda: None)
    with pytest.raises(RuntimeError, match="apt-get install postgresql"), postgres_server():
        pass
