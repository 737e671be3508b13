"""``stationthis media prune [--dry-run]``: remove the media files no media row refers to
(left by a crash or a failed upload), once they are an hour old."""

from __future__ import annotations

from typing import Annotated

import typer

from stationthis.cli.common import run
from stationthis.core.media import ORPHAN_AGE
from stationthis.workflows.app import App

media_cli = typer.Typer(help="The media store: stored images and files.", no_args_is_help=True)


@media_cli.command("prune")
def prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list them")] = False,
) -> None:
    """Delete stored files that no media item refers to and that are over an hour old."""
    async def body(app: App) -> None:
        orphans = await app.media.prune_orphans(older_than=ORPHAN_AGE, dry_run=dry_run)
        for orphan in orphans:
            typer.echo(f"{'would delete' if dry_run else 'deleted'} {orphan.key} "
                       f"({orphan.size} bytes)")
        total = sum(o.size for o in orphans)
        verb = "would free" if dry_run else "freed"
        typer.echo(f"{len(orphans)} orphaned file{'s' if len(orphans) != 1 else ''}, "
                   f"{verb} {total} bytes")

    run(body)
