"""Database access: one async engine, explicit read and write transactions.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys; write
transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade.
PostgreSQL write transactions lock the rows they change (``SELECT … FOR UPDATE``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from stationthis.core import sqlite_driver
from stationthis.core.sqlite_writer import SqliteWriter
from stationthis.core.text import load_json


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 30) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # load_json: a lone surrogate stored before the edges refused them reads back as U+FFFD
        kwargs: dict[str, Any] = {"echo": echo, "json_deserializer": load_json}
        if self.is_sqlite:
            # check_same_thread off: the writer's statements run in the event loop's thread
            # (core/sqlite_driver.py) on a connection aiosqlite opened in its own.
            kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
            kwargs["module"] = sqlite_driver.dbapi()  # one thread hop per statement
            if ":memory:" in url or url.endswith("://"):
                raise ValueError("use a SQLite file, not :memory: (several connections share it)")
        else:
            # No ping per checkout (three round trips on asyncpg): a connection that broke
            # is dropped when it fails (SQLAlchemy invalidates it) and the next one is new.
            # The pool is kept whole (no overflow): opening a connection per burst costs more
            # than waiting for a pooled one, and a fixed number per process is what has to
            # fit the server's max_connections (STATIONTHIS_DB_POOL_SIZE).
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_pre_ping=False,
                          pool_recycle=3600)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self.writer: SqliteWriter | None = None
        if self.is_sqlite:
            _configure_sqlite(self.engine)
            self.writer = SqliteWriter(self.engine)

    @asynccontextmanager
    async def read(self, *, offload: bool = False) -> AsyncIterator[AsyncConnection]:
        """A read transaction. On SQLite its statements run in the event loop's thread
        (core/sqlite_driver.py): a point read takes microseconds there, against three trips
        to the driver's thread. ``offload``: a scan of a whole table (metrics, searches),
        run in the driver's thread so that the event loop goes on meanwhile."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                raw = await conn.get_raw_connection()
                sqlite_driver.set_inline(raw.dbapi_connection, not offload)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction. On SQLite every write of the process goes through one
        writer with group commit (core/sqlite_writer.py); it returns after the commit."""
        if self.writer is not None:
            async with self.writer.write() as conn:
                yield conn
            return
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def dispose(self) -> None:
        if self.writer is not None:
            await self.writer.close()
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (the driver's implicit BEGIN is DEFERRED).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("stationthis_write", False)
        # Straight to the driver's cursor: a statement of SQLAlchemy's costs more than BEGIN.
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        finally:
            cursor.close()


def sqlite_nullpool_engine(url: str) -> AsyncEngine:
    """An engine for one-off tools (migrations) that must not keep connections open."""
    return create_async_engine(url, poolclass=NullPool)
