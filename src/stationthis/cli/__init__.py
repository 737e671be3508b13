"""``stationthis …``: run the service, make images, manage points, users, tools, datasets,
collections and the database. One module per command group; what they share is in
``common``. ``main`` is the console script."""

from __future__ import annotations

import os
import sys

import typer

from stationthis.cli import (
    collections,
    cook,
    db,
    discord,
    history,
    images,
    inpaint,
    loras,
    media,
    points,
    purchases,
    serve,
    styles,
    tools,
    train,
    user_settings,
    users,
)
from stationthis.cli.common import Command
from stationthis.core.text import NOT_UTF8, is_valid_text

cli = typer.Typer(help="StationThis: a self-hostable AI image studio.", no_args_is_help=True)

# Commands, then groups: `stationthis --help` lists them in this order.
for _name, _command in (
    ("serve", serve.serve),
    ("make", images.make),
    ("regen", images.regen),
    ("vary", images.vary),
    ("tweak", images.tweak),
    ("upscale", images.upscale),
    ("rmbg", images.rmbg),
    ("inpaint", inpaint.inpaint),
    ("zoom-out", images.zoom_out),
    ("pan", images.pan),
    ("rerun", images.rerun),
    ("upload", images.upload),
    ("describe", loras.describe),
    ("history", history.history),
    ("seed", history.seed),
    ("card", history.card),
    ("status", history.status),
    ("cancel", history.cancel),
    ("models", train.models_list),
    ("worker", serve.worker),  # runs jobs beside `serve --web-only` nodes
):
    cli.command(_name, cls=Command)(_command)  # Command: hidden arguments stay out of usage

for _name, _group in (
    ("points", points.points_cli),
    ("tools", tools.tools_cli),
    ("db", db.db_cli),
    ("settings", user_settings.settings_cli),
    ("users", users.users_cli),
    ("dataset", train.dataset_cli),
    ("train", train.train_cli),
    ("collections", collections.collections_cli),
    ("cook", cook.cook_cli),
    ("discord", discord.discord_cli),
    ("media", media.media_cli),
    ("purchases", purchases.purchases_cli),
    ("styles", styles.styles_cli),
    ("loras", loras.loras_cli),
    ("wildcards", styles.wildcards_cli),
):
    cli.add_typer(_group, name=_name)


def _invalid_argument() -> str | None:
    """The first argument that is not valid text, shown as its bytes. (Python decodes bytes
    that are not UTF-8 into lone surrogates; nothing behind this check sees one.)"""
    for number, arg in enumerate(sys.argv[1:], 1):
        if not is_valid_text(arg):
            try:
                shown = repr(os.fsencode(arg))
            except UnicodeEncodeError:
                shown = ascii(arg)
            return f"argument {number} is {shown}"
    return None


def main() -> None:
    bad = _invalid_argument()
    if bad is not None:
        typer.echo(f"error: {NOT_UTF8}: {bad}", err=True)
        sys.exit(2)
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["cli", "main"]
