"""Alembic migrations. ``upgrade(url)`` brings a database to the newest schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent


def config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Synchronous; call it outside a running event loop (or in a thread).

    For a SQLite file, processes starting at the same moment (two commands on a fresh data
    dir) take turns through a lock file beside the database instead of racing."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        import fcntl

        lock_path = Path(parsed.database).with_suffix(".migrate.lock")
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            command.upgrade(config(url), revision)
        return
    command.upgrade(config(url), revision)


def pending(url: str) -> bool:
    """True when the database is not at the newest schema (synchronous, like ``upgrade``)."""
    import asyncio

    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    heads = set(ScriptDirectory.from_config(config(url)).get_heads())

    async def current() -> set[str]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return set(
                    await conn.run_sync(
                        lambda sync: MigrationContext.configure(sync).get_current_heads()
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(current()) != heads


def downgrade(url: str, revision: str) -> None:
    command.downgrade(config(url), revision)
