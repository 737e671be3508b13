"""``stationthis make`` and the actions on what it made: ``regen``, ``vary``, ``tweak``,
``upscale``, ``rmbg``, ``zoom-out``, ``pan``, ``rerun``, and ``upload`` to bring an image of
one's own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from stationthis.cli.common import (
    CLI_REPLY,
    OlderArg,
    UserGiven,
    UserOpt,
    assignments,
    echo_progress,
    existing_file,
    fail,
    given,
    media_of,
    older_form,
    resolve_group,
    resolve_user,
    run,
)
from stationthis.core.errors import NotFound
from stationthis.core.jobs import Job
from stationthis.core.users import Account
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Quote, Request

# Every command takes -u/--user (default: local); `upload USER FILE` is the older form.
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="print the price; run nothing")]
OutOpt = Annotated[Path | None, typer.Option(help="also copy the images into this folder")]
GroupOpt = Annotated[str | None, typer.Option(help="the group it is made in: PLATFORM:ID")]
JobArg = Annotated[str, typer.Argument(help="job id (see `stationthis history`)")]



async def _echo_images(app: App, job: Job, out: Path | None, *, ids: bool) -> None:
    """Where each output of a finished job is (copied into ``out`` if given)."""
    for media_id in job.outputs:
        item = await app.media.get(media_id)
        path = Path(app.settings.media_dir or "") / item.key
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{job.id}_{media_id[:8]}.png"
            await asyncio.to_thread(path.write_bytes, await app.media.read(item))
        typer.echo(f"image: {path} ({item.width}×{item.height})")
        if ids:
            typer.echo(f"media: {media_id}")


def make(
    prompt: Annotated[str, typer.Argument(help="what to draw")],
    user: UserOpt = "local",
    seed: Annotated[int | None, typer.Option(help="same prompt + seed = same image")] = None,
    out: Annotated[Path | None, typer.Option(help="also copy the images into this folder")] = None,
    tool: Annotated[
        str | None,
        typer.Option(help="tool name (see `stationthis tools list`); default: the user's")
    ] = None,
    width: int | None = None,
    height: int | None = None,
    steps: int | None = None,
    batch: int | None = None,
    option: Annotated[
        list[str] | None, typer.Option("--set", help="any tool input: NAME=VALUE")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="the group it is made in (its defaults apply): PLATFORM:ID")
    ] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Generate an image: quote, hold points, run, store, capture. The prompt may end with
    parameters: --ar 16:9, --seed 5, --steps 30, --batch 2, --no TEXT."""
    options = given({"prompt": prompt, "seed": seed, "width": width, "height": height,
                     "steps": steps, "batch": batch, **assignments(option or [], "--set")})

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        chat = await resolve_group(app, group) if group else None
        name = tool or await app.make_image.default_tool(account, chat)
        await _image_files(app, account, name, options)
        quote = await app.make_image.quote(account, Request(name, options), group=chat)
        typer.echo(f"{name}: {quote.points} points (you have {quote.available})")
        if dry_run:
            _echo_dry_run(quote)
            return
        echo_progress(app, account)
        job = await app.make_image.make(account, Request(name, options),
                                        reply=CLI_REPLY, group=chat)
        job = await app.jobs.wait(job.id)
        if job.state != "succeeded":
            fail(f"job {job.state}: {job.error or ''} (nothing was charged)", 1)
        await _echo_images(app, job, out, ids=False)
        balance = await app.ledger.balance(account.id)
        typer.echo(f"seed {job.params.get('seed')} · cost {job.cost} points "
                   f"(held {job.quote}, released {job.quote - (job.cost or 0)}) · "
                   f"balance {balance.total}")

    run(body, start=not dry_run)


async def _image_files(app: App, account: Account, tool: str, options: dict[str, Any]
                       ) -> None:
    """An image input given as a file (``--set image=photo.png``) is stored for the user
    first and passed on as its media id; a media id is passed as it is."""
    for name, spec in app.tools.get(tool).inputs.items():
        value = options.get(name)
        if spec.type != "image" or not isinstance(value, str) or not value:
            continue
        if Path(value).is_file():
            options[name] = await media_of(app, account, value, name)
            continue
        try:
            await app.media.get(value, owner_id=account.id)
        except NotFound:
            fail(f"--set {name}={value}: no such file, nor an image id of yours "
                 "(`stationthis upload USER FILE` stores one)")


def _echo_dry_run(quote: Quote) -> None:
    """What a request would be, what fits when it is too dear, and that nothing happened."""
    p = quote.params
    shown = [f"{p['width']}×{p['height']}" if "width" in p and "height" in p else "",
             f"{p['steps']} steps" if "steps" in p else "",
             f"{p['batch']} image{'s' if int(p['batch']) > 1 else ''}" if "batch" in p else "",
             f"seed {p['seed']}" if "seed" in p else "",
             f"prompt {p['prompt']!r}" if p.get("prompt") else "",
             f"no {p['negative']!r}" if p.get("negative") else ""]
    typer.echo("  " + " · ".join(part for part in shown if part))
    if not quote.fits:
        typer.echo(f"  short by {quote.points - quote.available} points")
    for alt in quote.alternatives:
        typer.echo(f"  fits: {alt.description} — {alt.points} points")
    typer.echo("dry run: nothing was held or run")


Step = Callable[[App, Any, Any], Awaitable[Any]]


def _again(user: str, group: str | None, dry_run: bool, out: Path | None, label: str,
           quote: Step, start: Step) -> None:
    """Price a request (``quote(app, account, group)``); unless a dry run, start it
    (``start(app, account, group)``), wait for it and print its images as `make` does."""
    if out is not None and not dry_run:
        out.mkdir(parents=True, exist_ok=True)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        chat = await resolve_group(app, group) if group else None
        price = await quote(app, account, chat)
        typer.echo(f"{label} with {price.tool}: {price.points} points "
                   f"(you have {price.available})")
        if dry_run:
            if not price.fits:
                typer.echo(f"  short by {price.points - price.available} points")
            for alt in price.alternatives:
                typer.echo(f"  fits: {alt.description} — {alt.points} points")
            typer.echo("dry run: nothing was held or run")
            return
        echo_progress(app, account)
        job = await app.jobs.wait((await start(app, account, chat)).id)
        if job.state != "succeeded":
            fail(f"job {job.id} {job.state}: {job.error or ''} (nothing was charged)", 1)
        await _echo_images(app, job, out, ids=True)
        balance = await app.ledger.balance(account.id)
        seed = f" · seed {job.params['seed']}" if "seed" in job.params else ""
        typer.echo(f"job {job.id}{seed} · cost {job.cost} points (held {job.quote}, "
                   f"released {job.quote - (job.cost or 0)}) · balance {balance.total}")

    run(body, start=not dry_run)


def regen(
    job: JobArg, user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Regenerate a job: the same tool and parameters with a new seed."""
    _again(user, group, dry_run, out, f"regenerate {job}",
           lambda app, me, chat: app.again.quote_regenerate(me, job, group=chat),
           lambda app, me, chat: app.again.regenerate(me, job, group=chat, reply=CLI_REPLY))


def vary(
    media: Annotated[str, typer.Argument(help="image id (an output, or an upload + --prompt)")],
    strength: Annotated[float, typer.Option(help="0 = the same image, 1 = a new one")] = 0.5,
    prompt: Annotated[str | None, typer.Option(help="default: the image's own prompt")] = None,
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """A variation of one image (image to image with a new seed)."""
    _again(user, group, dry_run, out, f"variation of {media}",
           lambda app, me, chat: app.again.quote_vary(me, media, strength, prompt=prompt,
                                                      group=chat),
           lambda app, me, chat: app.again.vary(me, media, strength, prompt=prompt, group=chat,
                                                reply=CLI_REPLY))


def tweak(
    job: JobArg,
    changes: Annotated[list[str], typer.Argument(metavar="KEY=VALUE...", help="e.g. steps=30")],
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Run a job again with some parameters changed (the seed stays unless changed)."""
    values: dict[str, Any] = dict(assignments(changes, "tweak"))
    _again(user, group, dry_run, out, f"tweak of {job}",
           lambda app, me, chat: app.again.quote_tweak(me, job, group=chat, **values),
           lambda app, me, chat: app.again.tweak(me, job, group=chat, reply=CLI_REPLY,
                                                 **values))


def upscale(
    media: Annotated[str, typer.Argument(help="image id: an output or an upload")],
    scale: Annotated[int, typer.Option(help="2 or 4")] = 2,
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Upscale an image ×2 or ×4."""
    _again(user, group, dry_run, out, f"upscale ×{scale} of {media}",
           lambda app, me, chat: app.again.quote_upscale(me, media, scale, group=chat),
           lambda app, me, chat: app.again.upscale(me, media, scale, group=chat,
                                                   reply=CLI_REPLY))


def rmbg(
    media: Annotated[str, typer.Argument(help="image id: an output or an upload")],
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Remove the background of an image."""
    _again(user, group, dry_run, out, f"background removal of {media}",
           lambda app, me, chat: app.again.quote_remove_background(me, media, group=chat),
           lambda app, me, chat: app.again.remove_background(me, media, group=chat,
                                                             reply=CLI_REPLY))


def zoom_out(
    media: Annotated[str, typer.Argument(help="image id: an output or an upload")],
    factor: Annotated[float, typer.Option(help="the result's size: 1.5 or 2 times (up to 4)")
                      ] = 1.5,
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Zoom out: the image centred on a larger canvas, the border painted from its prompt."""
    _again(user, group, dry_run, out, f"zoom out ×{factor:g} of {media}",
           lambda app, me, chat: app.again.quote_zoom_out(me, media, factor, group=chat),
           lambda app, me, chat: app.again.zoom_out(me, media, factor, group=chat,
                                                    reply=CLI_REPLY))


def pan(
    media: Annotated[str, typer.Argument(help="image id: an output or an upload")],
    direction: Annotated[str, typer.Argument(help="left, up, right or down")],
    share: Annotated[float, typer.Option(help="how much is added: a share of the image's size")
                     ] = 0.5,
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Pan: the image extended on one side, the new part painted from its prompt."""
    _again(user, group, dry_run, out, f"pan {direction} of {media}",
           lambda app, me, chat: app.again.quote_pan(me, media, direction, share, group=chat),
           lambda app, me, chat: app.again.pan(me, media, direction, share, group=chat,
                                               reply=CLI_REPLY))


def rerun(
    card: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="a card saved by `stationthis card --json`")],
    force: Annotated[bool, typer.Option(help="run even if the tool or engine changed")] = False,
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Run a reproducibility card again, exactly (the same seed)."""
    from stationthis.workflows.history import ReproCard

    recipe = ReproCard.from_json(card.read_text(encoding="utf-8"))
    _again(user, group, dry_run, out, f"rerun of {card.name}",
           lambda app, me, chat: app.history.quote_rerun(me, recipe, force=force, group=chat),
           lambda app, me, chat: app.history.rerun(me, recipe, force=force, group=chat,
                                                   reply=CLI_REPLY))


def upload(
    file_given: Annotated[str, typer.Argument(metavar="FILE", help="PNG, JPEG or WEBP")],
    older: OlderArg = None,
    user: UserGiven = None,
) -> None:
    """Store a local image for a user (checked and re-encoded); prints its media id.

    Older form: stationthis upload USER FILE."""
    user, (file_given,) = older_form("upload USER FILE", user, [file_given], older, required=1)
    file = existing_file(file_given, "FILE")

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        item = await app.media.ingest(account.id, await asyncio.to_thread(file.read_bytes))
        typer.echo(f"media: {item.id} ({item.width}×{item.height})")

    run(body)
