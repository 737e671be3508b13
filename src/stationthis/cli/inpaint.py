"""``stationthis inpaint IMAGE MASK PROMPT``: repaint the region of an image that a mask marks
(white = repaint, black = keep; the image's own size). IMAGE and MASK are files or media ids
(an output, or an upload); the price is shown first and ``--dry-run`` stops there."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from stationthis.cli.common import (
    CLI_REPLY,
    UserOpt,
    echo_progress,
    fail,
    given,
    media_of,
    resolve_group,
    resolve_user,
    run,
)
from stationthis.core.users import Account
from stationthis.workflows.app import App
from stationthis.workflows.commands import Inpaint, Offer, Requester

ImageArg = Annotated[str, typer.Argument(help="the image: a PNG/JPEG/WEBP file or a media id")]
MaskArg = Annotated[str, typer.Argument(
    help="the mask, the image's size, white where to repaint: a file or a media id")]


def inpaint(
    image: ImageArg,
    mask: MaskArg,
    prompt: Annotated[str, typer.Argument(help="what the masked region should show")],
    negative: Annotated[str | None, typer.Option(help="what to avoid")] = None,
    seed: Annotated[int | None, typer.Option(help="same prompt + seed = same image")] = None,
    steps: int | None = None,
    grow: Annotated[int | None, typer.Option(help="pixels the repaint reaches past the mask")
                    ] = None,
    user: UserOpt = "local",
    group: Annotated[str | None, typer.Option(help="the group it is made in: PLATFORM:ID")
                     ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the price; run nothing")
                       ] = False,
    out: Annotated[Path | None, typer.Option(help="also copy the image into this folder")
                   ] = None,
) -> None:
    """Vary a region: repaint what the mask marks white, keep the rest."""
    options = given({"negative": negative, "seed": seed, "steps": steps, "grow": grow})

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        chat = await resolve_group(app, group) if group else None
        command = Inpaint(Requester(account, chat), await media_of(app, account, image, "image"),
                          await media_of(app, account, mask, "mask"), prompt, options)
        offer = await app.make_image.offer(command)
        quote = offer.quote
        p = quote.params
        typer.echo(f"inpaint with {quote.tool}: {quote.points} points (you have "
                   f"{quote.available}) · {p.get('width')}×{p.get('height')} · "
                   f"{p.get('steps')} steps · seed {p.get('seed')}")
        if dry_run or not offer.fits:
            if not offer.fits:
                typer.echo(f"  short by {quote.points - quote.available} points")
            typer.echo("dry run: nothing was held or run" if dry_run else "nothing was run")
            if not offer.fits:
                raise typer.Exit(1)
            return
        await _run(app, account, offer, out)

    run(body, start=not dry_run)


async def _run(app: App, account: Account, offer: Offer, out: Path | None) -> None:
    echo_progress(app, account)
    job = await app.jobs.wait((await app.make_image.start(offer, reply=CLI_REPLY)).id)
    if job.state != "succeeded":
        fail(f"job {job.id} {job.state}: {job.error or ''} (nothing was charged)", 1)
    for media_id in job.outputs:
        item = await app.media.get(media_id)
        path = Path(app.settings.media_dir or "") / item.key
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{job.id}_{media_id[:8]}.png"
            await asyncio.to_thread(path.write_bytes, await app.media.read(item))
        typer.echo(f"image: {path} ({item.width}×{item.height})")
        typer.echo(f"media: {media_id}")
    balance = await app.ledger.balance(account.id)
    typer.echo(f"job {job.id} · seed {job.params.get('seed')} · cost {job.cost} points "
               f"(held {job.quote}, released {job.quote - (job.cost or 0)}) · "
               f"balance {balance.total}")
