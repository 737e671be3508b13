"""The migrations build exactly the schema the code uses, on SQLite and PostgreSQL, and can be
rolled back and forward again."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from stationthis.core.schema import metadata
from stationthis.migrations import downgrade, pending, upgrade


def diff_and_tables(url: str) -> tuple[list[object], set[str]]:
    async def run() -> tuple[list[object], set[str]]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                def check(sync_conn):  # type: ignore[no-untyped-def]
                    context = MigrationContext.configure(
                        sync_conn, opts={"compare_type": True, "render_as_batch": True}
                    )
                    return (compare_metadata(context, metadata),
                            set(inspect(sync_conn).get_table_names()))

                return await conn.run_sync(check)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrated_schema_matches_the_code(db_url: str) -> None:
    diff, tables = diff_and_tables(db_url)
    assert diff == []
    assert set(metadata.tables) <= tables
    assert not pending(db_url)


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    downgrade(db_url, "base")
    _, tables = diff_and_tables(db_url)
    assert not set(metadata.tables) & tables
    assert pending(db_url)
    upgrade(db_url)
    diff, _ = diff_and_tables(db_url)
    assert diff == []
