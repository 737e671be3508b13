"""aiosqlite for SQLAlchemy, one thread hop per statement.

SQLAlchemy's aiosqlite adapter makes three or four trips to aiosqlite's thread for every
statement (open a cursor, execute, fetch the rows, close the cursor); each trip wakes that
thread and then the event loop. Here a statement is one trip: a function run in aiosqlite's
thread opens the cursor, executes, fetches every row and closes it. Profiles of the write
paths (docs/benchmarks.md) showed the event loop and aiosqlite's thread both mostly idle,
waiting on each other: the hops were the cost.

``dbapi()`` is passed to ``create_async_engine(module=...)``; nothing else changes.

A connection marked ``inline`` (the one writer's, core/sqlite_writer.py, and the readers'
unless a read asks to be offloaded, core/db.py) runs its statements and its commits in the
calling thread, with no trip at all. What could make it wait stays in
aiosqlite's thread: a ``BEGIN`` or a statement that finds another process holding a lock
(tried here first without waiting), rollbacks of a write, and checkpoints of the WAL (which
write and sync the database file; the writer asks for them every few hundred commits).
Inside a write transaction nothing waits for a lock, a WAL reader waits for none either, and
in WAL mode with ``synchronous=NORMAL`` a commit is an append to the log, so a statement
blocks the event loop only for its own work (microseconds for the app's one-row reads and
writes; a scan of a whole table is offloaded, ``Database.read(offload=True)``, and a bulk
write should be split).
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import await_

_Outcome = tuple[Any, list[Any], int, Any]  # description, rows, rowcount, lastrowid
BUSY_TIMEOUT_MS = 60_000  # as core/db.py sets it on every connection


def _run_waiting(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> _Outcome:
    """``_run`` in aiosqlite's thread, waiting up to the busy timeout for a lock another
    process holds (a BEGIN of the writer, or a statement that met one)."""
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return _run(conn, operation, parameters, many)
    finally:
        conn.execute("PRAGMA busy_timeout=0")


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """In aiosqlite's thread: the whole statement, its rows included."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    _adapt_connection: Any
    """A buffered cursor: every row is fetched in the statement's one trip."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # no aiosqlite cursor is opened
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: Any = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # nothing is open between trips

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            if self._adapt_connection.inline:
                if operation.startswith("BEGIN"):
                    return await_(self._begin(operation))
                return await_(self._here(operation, parameters, False))
            return await_(self._trip(operation, parameters, False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            if self._adapt_connection.inline:
                return await_(self._here(operation, seq_of_parameters, True))
            return await_(self._trip(operation, seq_of_parameters, True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _trip(self, operation: Any, parameters: Any, many: bool) -> None:
        connection: Any = self._connection
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await connection._execute(
                _run, connection._conn, operation, parameters, many
            )
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _here(self, operation: Any, parameters: Any, many: bool) -> None:
        # A coroutine that suspends only when SQLite says busy: SQLAlchemy's async
        # connection expects each statement to await something.
        connection: Any = self._connection
        try:  # (an inline connection's busy timeout is 0: it fails at once, never sleeps)
            outcome = _run(connection._conn, operation, parameters, many)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            # Another process holds a lock this statement needs (a reader, rarely: WAL
            # recovery or a truncating checkpoint elsewhere): wait in aiosqlite's thread.
            outcome = await connection._execute(
                _run_waiting, connection._conn, operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _begin(self, operation: str) -> None:
        """BEGIN here when the lock is free (it almost always is: this is the process's one
        writer); when another process holds it, wait for it in aiosqlite's thread."""
        connection: Any = self._connection
        try:  # (an inline connection's busy timeout is 0: it fails at once, never sleeps)
            connection._conn.execute(operation)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            await connection._execute(_run_waiting, connection._conn, operation, None, False)

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("inline",)
    _cursor_cls = OneHopCursor  # type: ignore[assignment]
    _adapt_connection: Any

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.inline = False  # statements in the caller's thread (the writer's connection)

    def commit(self) -> None:
        if not self.inline:
            return super().commit()
        try:  # WAL with synchronous=NORMAL: an append to the log, no fsync, no lock to wait
            self._connection._conn.commit()
        except Exception as error:
            self._handle_exception(error)

    def rollback(self) -> None:
        # The pool rolls back every connection it takes back: with no transaction open
        # (a read that committed) there is nothing to undo and no trip to make.
        if self.inline and not self._connection._conn.in_transaction:
            return None
        return super().rollback()


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


def dbapi() -> Any:
    """The DBAPI module for ``create_async_engine(..., module=dbapi())``."""
    return _Dbapi(aiosqlite, sqlite3)


def set_inline(dbapi_connection: Any, inline: bool) -> bool:
    """Run this connection's statements in the calling thread (True) or in aiosqlite's.
    An inline connection does not checkpoint the WAL as it commits (that writes the database
    file and syncs it): its owner calls ``checkpoint`` instead, which runs in aiosqlite's
    thread. False when the connection is not one of ours (nothing changes then)."""
    if not isinstance(dbapi_connection, _Connection):
        return False
    if dbapi_connection.inline == inline:
        return True
    dbapi_connection.inline = inline
    conn = dbapi_connection._connection._conn
    # Inside a write transaction in WAL mode nothing waits for a lock (BEGIN IMMEDIATE took
    # them all), so the busy timeout only matters to BEGIN, which waits in _run_waiting.
    conn.execute(f"PRAGMA busy_timeout={0 if inline else BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA wal_autocheckpoint={0 if inline else 1000}")  # 1000: the default
    return True


def execute_here(dbapi_connection: Any, sql: str) -> None:
    """A statement without parameters or rows (SAVEPOINT, RELEASE) on an inline
    connection, straight to the driver: no SQLAlchemy execution around it."""
    assert dbapi_connection.inline, "only the writer's connection runs statements here"
    dbapi_connection._connection._conn.execute(sql)


async def checkpoint(dbapi_connection: Any) -> None:
    """Copy the WAL into the database file (PASSIVE: never waits for readers), in
    aiosqlite's thread."""
    connection = dbapi_connection._connection
    await connection._execute(_checkpoint, connection._conn)


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
