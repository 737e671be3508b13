"""``stationthis db upgrade``: bring the database schema up to date (PostgreSQL; the embedded
SQLite database migrates itself)."""

from __future__ import annotations

import typer
from sqlalchemy.exc import SQLAlchemyError

from stationthis.cli.common import fail_database, get_settings

db_cli = typer.Typer(help="The database.", no_args_is_help=True)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date."""
    from stationthis.migrations import upgrade

    settings = get_settings()
    try:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.db_url)
    except (OSError, SQLAlchemyError) as exc:
        fail_database(settings, exc)
    typer.echo("database is up to date")
