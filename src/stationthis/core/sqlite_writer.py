"""SQLite's one writer, with group commit.

SQLite lets one transaction write at a time. Pooled connections that each ``BEGIN
IMMEDIATE`` collide and wait in the busy handler's timed sleeps; here one task owns the
write connection instead, and every ``write()`` of the process is queued to it. The writer
opens one transaction for as many queued writes as are waiting (up to ``max_batch``), runs
each inside its own SAVEPOINT — a write that raises rolls back alone — and commits once.
No write is acknowledged (its ``async with`` does not return) before that commit: group
commit changes how many fsyncs there are, never what a caller may rely on.

A write's body must not wait for another write of the same process (it would wait for
itself); bodies in this code base only run statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stationthis.core.sqlite_driver import checkpoint, execute_here, set_inline

log = logging.getLogger(__name__)
CHECKPOINT_EVERY = 200  # commits between two WAL checkpoints (in the driver's thread)


@dataclass
class _Write:
    turn: asyncio.Future[AsyncConnection]
    done: asyncio.Future[bool]  # True: keep the body's changes; False: roll them back
    committed: asyncio.Future[None]
    abandoned: bool = False


@dataclass
class _Stats:
    transactions: int = 0  # commits
    writes: int = 0  # write() blocks kept


class SqliteWriter:
    def __init__(self, engine: AsyncEngine, max_batch: int = 256) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.stats = _Stats()
        self._queue: deque[_Write] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holder: asyncio.Task[object] | None = None  # the task inside a write body
        self._dbapi: object = None  # the write connection's driver-level connection
        self._since_checkpoint = 0
        self._checkpointing: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # used from another event loop (asyncio.run again)
            self._loop, self._task, self._conn = loop, None, None
            self._queue.clear()
            self._ready = asyncio.Event()
        item = _Write(loop.create_future(), loop.create_future(), loop.create_future())
        self._queue.append(item)
        self._ready.set()
        self._ensure_task()
        if self._holder is not None and self._holder is asyncio.current_task():
            raise RuntimeError("a write inside a write of the same task would wait for itself")
        try:
            conn = await item.turn
        except BaseException:
            item.abandoned = True
            if item.turn.done() and not item.turn.cancelled() and not item.done.done():
                item.done.set_result(False)  # our turn came as we were cancelled
            raise
        self._holder = asyncio.current_task()
        try:
            yield conn
        except BaseException as exc:
            self._holder = None
            if not item.done.done():
                item.done.set_result(False)
            if isinstance(exc, Exception):
                # What this write collided with (a unique key, say) may be another write of
                # the same batch: let it commit before the caller looks at the database.
                with contextlib.suppress(Exception):
                    await asyncio.shield(item.committed)
            raise
        self._holder = None
        item.done.set_result(True)
        await asyncio.shield(item.committed)

    async def close(self) -> None:
        """Stop the writer and close its connection (a later ``write()`` starts it again)."""
        if self._checkpointing is not None:
            self._checkpointing.cancel()
            with contextlib.suppress(BaseException):
                await self._checkpointing
            self._checkpointing = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._queue:  # writes still waiting for their turn will never get one
            item = self._queue.popleft()
            if not item.turn.done():
                item.turn.set_exception(RuntimeError("the database is closed"))
        await self._drop_connection()

    # ----- the writer task ---------------------------------------------------------------

    async def _checkpoint(self) -> None:
        """A PASSIVE checkpoint on a connection of its own, in its driver's thread: it
        copies what no reader still needs and never blocks the writer (WAL mode)."""
        try:
            async with self.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).dbapi_connection
                set_inline(raw, False)
                await checkpoint(raw)
        except Exception as exc:  # a reader's snapshot, a busy file: next time
            log.debug("WAL checkpoint skipped: %s", exc)

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="sqlite-writer")

    async def _run(self) -> None:
        try:
            while True:
                if not self._queue:
                    self._ready.clear()
                    await self._ready.wait()
                    continue
                await self._batch()
        finally:
            # Cancelled by close(), or with every other task when the event loop shuts down
            # (asyncio.run's end, a process stopping without close()): the connection goes
            # back closed, never left checked out for the garbage collector to find.
            await self._drop_connection()

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self.engine.connect()
            await conn.execution_options(stationthis_write=True)
            # Statements in this thread, no trip each (core/sqlite_driver.py); BEGIN and
            # COMMIT still go to the driver's thread.
            self._dbapi = (await conn.get_raw_connection()).dbapi_connection
            set_inline(self._dbapi, True)
            self._conn = conn
        return self._conn

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            # Closed for good, never handed to a reader: its settings are the writer's (no
            # busy timeout, no automatic checkpoints) and after a failure it may be broken.
            with contextlib.suppress(Exception):
                set_inline((await self._conn.get_raw_connection()).dbapi_connection, False)
            with contextlib.suppress(Exception):
                await self._conn.invalidate()
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    async def _batch(self) -> None:
        kept: list[_Write] = []
        ran: list[_Write] = []  # kept or rolled back: all wait for this batch's commit
        try:
            conn = await self._connection()
            transaction = await conn.begin()  # BEGIN IMMEDIATE (core/db.py)
        except BaseException as exc:
            # Cannot even begin (the file is locked by another process for too long, the
            # disk is gone): the first write waiting is told; the others try again.
            item = self._queue.popleft()
            if not item.turn.done():
                item.turn.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
            await self._drop_connection()
            if not isinstance(exc, Exception):
                raise
            return
        failure: BaseException | None = None
        try:
            count = 0
            while self._queue and count < self.max_batch:
                item = self._queue.popleft()
                if item.abandoned:
                    continue
                execute_here(self._dbapi, "SAVEPOINT write")
                if item.turn.done():  # its caller was cancelled while we began
                    execute_here(self._dbapi, "RELEASE write")
                    continue
                count += 1
                ran.append(item)
                item.turn.set_result(conn)
                keep = await asyncio.shield(item.done)
                if keep:
                    execute_here(self._dbapi, "RELEASE write")
                    kept.append(item)
                else:
                    execute_here(self._dbapi, "ROLLBACK TO write")
                    execute_here(self._dbapi, "RELEASE write")
            await transaction.commit()
            self.stats.transactions += 1
            self.stats.writes += len(kept)
            self._since_checkpoint += 1
            if self._since_checkpoint >= CHECKPOINT_EVERY and (
                    self._checkpointing is None or self._checkpointing.done()):
                # Beside the writes, not in their way: copying the log into the database
                # file and syncing it takes milliseconds, and every write (this batch's
                # callers included) used to wait for it.
                self._since_checkpoint = 0
                self._checkpointing = asyncio.create_task(self._checkpoint(),
                                                          name="sqlite-checkpoint")
        except asyncio.CancelledError as exc:
            failure = exc
            raise
        except Exception as exc:  # the commit (or a savepoint) failed: nothing of it holds
            failure = exc
            log.warning("a batch of %d SQLite writes failed: %s", len(kept), exc)
            with contextlib.suppress(Exception):
                await transaction.rollback()
            await self._drop_connection()
        finally:
            for item in ran:
                if item.committed.done():
                    continue
                if failure is None:
                    item.committed.set_result(None)
                elif isinstance(failure, Exception):
                    item.committed.set_exception(failure)
                else:
                    item.committed.set_exception(RuntimeError("the database writer stopped"))
