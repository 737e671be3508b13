"""SQLite's one writer runs its statements in the event loop's thread: what another process
does to the database file must never freeze that loop, and what it writes must be what the
statements said."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import warnings

from sqlalchemy import exc, text

from stationthis.core.db import Database


async def test_a_write_waits_for_another_process_lock_without_freezing_the_loop(
    sqlite_url: str,
) -> None:
    db = Database(sqlite_url)
    try:
        async with db.write() as conn:  # the writer's connection is open and warm
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 0)"))

        # "another process": its own connection holds the write lock until told to stop
        other = sqlite3.connect(sqlite_url.split("///", 1)[1], check_same_thread=False,
                                isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE t SET n = n + 100 WHERE id = 1")

        async def write() -> None:
            async with db.write() as conn:
                await conn.execute(text("UPDATE t SET n = n + 1 WHERE id = 1"))

        waiting = asyncio.create_task(write())
        ticks = 0
        for _ in range(50):  # the loop keeps turning while the write waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 50
        assert not waiting.done()

        released = threading.Event()
        threading.Thread(target=lambda: (other.execute("COMMIT"), released.set())).start()
        await asyncio.wait_for(waiting, 60)
        assert released.is_set()
        other.close()

        async with db.read() as conn:
            assert (await conn.execute(text("SELECT n FROM t"))).scalar_one() == 101
    finally:
        await db.dispose()


async def test_group_commit_keeps_every_write_and_rolls_back_only_the_one_that_failed(
    sqlite_url: str,
) -> None:
    db = Database(sqlite_url)
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE u (k TEXT PRIMARY KEY, v INTEGER)"))

        async def put(k: str, v: int) -> None:
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO u VALUES (:k, :v)"), {"k": k, "v": v})
                if v < 0:
                    raise ValueError("refused")

        results = await asyncio.gather(
            *(put(f"k{i}", -1 if i % 7 == 3 else i) for i in range(300)),
            return_exceptions=True,
        )
        failed = {f"k{i}" for i, r in enumerate(results) if isinstance(r, ValueError)}
        assert failed == {f"k{i}" for i in range(300) if i % 7 == 3}

        async with db.read() as conn:
            kept = dict((await conn.execute(text("SELECT k, v FROM u"))).all())
        assert set(kept) == {f"k{i}" for i in range(300)} - failed
        assert all(kept[k] == int(k[1:]) for k in kept)
        assert db.writer is not None and db.writer.stats.transactions < 300  # grouped
    finally:
        await db.dispose()


def leaked_connection_warnings() -> list[str]:
    """What SQLAlchemy says when it garbage-collects a connection nobody checked in."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", exc.SAWarning)
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, exc.SAWarning)]


def test_an_event_loop_that_ends_without_dispose_leaves_no_connection_checked_out(
    sqlite_url: str,
) -> None:
    """The end of an event loop cancels every task, the writer's with them (asyncio.run's
    end; a crash test's first app, whose leftover tasks wrote after its dispose() and so
    started a new writer). The writer used to keep its connection checked out: SQLAlchemy
    found it at garbage collection ("non-checked-in connection ... will be terminated")."""
    db = Database(sqlite_url)

    async def write() -> None:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER)"))

    with asyncio.Runner() as runner:
        runner.run(write())
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert leaked_connection_warnings() == []
    with asyncio.Runner() as runner:  # still usable after, from another loop
        runner.run(write_one(db))
        runner.run(db.dispose())
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def write_one(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))


async def test_dispose_fails_the_writes_still_waiting_instead_of_leaving_them_hanging(
    sqlite_url: str,
) -> None:
    db = Database(sqlite_url)
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
    inside, release = asyncio.Event(), asyncio.Event()

    async def holding() -> None:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            inside.set()
            await release.wait()

    async def waiting() -> None:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2)"))

    first = asyncio.create_task(holding())
    await inside.wait()
    second = asyncio.create_task(waiting())
    await asyncio.sleep(0)  # queued behind the first
    await db.dispose()
    release.set()
    results = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 30)
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    assert "the database is closed" in str(results[1])
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert leaked_connection_warnings() == []


async def test_the_log_is_copied_into_the_database_file_while_writes_go_on(
    sqlite_url: str, tmp_path: object,
) -> None:
    """Checkpoints run beside the writer (on a connection of their own), and they do run:
    the database file itself, read without its write-ahead log, holds the rows."""
    import shutil
    from pathlib import Path

    from stationthis.core.sqlite_writer import CHECKPOINT_EVERY

    db = Database(sqlite_url)
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
        for i in range(CHECKPOINT_EVERY * 2 + 10):  # one commit each: two checkpoints due
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": i})
        writer = db.writer
        assert writer is not None
        for _ in range(200):
            if writer._checkpointing is not None and writer._checkpointing.done():
                break
            await asyncio.sleep(0.01)
        async with db.read() as conn:  # every write is there for readers of the log too
            total = (await conn.execute(text("SELECT COUNT(*) FROM t"))).scalar_one()
        assert total == CHECKPOINT_EVERY * 2 + 10
        alone = Path(str(tmp_path)) / "copy.db"
        shutil.copyfile(sqlite_url.split("///", 1)[1], alone)  # the file, not its log
        copied = sqlite3.connect(alone)
        try:
            in_file = copied.execute("SELECT COUNT(*) FROM t").fetchone()[0]
        finally:
            copied.close()
        assert in_file >= CHECKPOINT_EVERY  # checkpointed, though no write ever waited
    finally:
        await db.dispose()


async def test_a_read_is_not_held_up_by_another_process_writing(sqlite_url: str) -> None:
    """Reads run in the event loop's thread: one that meets another process's open write
    transaction reads the last committed rows at once (WAL), and never blocks the loop."""
    db = Database(sqlite_url)
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 7)"))
        other = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE t SET n = 100 WHERE id = 1")
            async with db.read() as conn:
                seen = (await conn.execute(text("SELECT n FROM t WHERE id = 1"))).scalar_one()
            assert seen == 7  # the committed value, not the other's uncommitted one
            other.execute("COMMIT")
            async with db.read() as conn:
                seen = (await conn.execute(text("SELECT n FROM t WHERE id = 1"))).scalar_one()
            assert seen == 100
            async with db.read(offload=True) as conn:  # a scan, in the driver's thread
                seen = (await conn.execute(text("SELECT SUM(n) FROM t"))).scalar_one()
            assert seen == 100
        finally:
            other.close()
    finally:
        await db.dispose()
