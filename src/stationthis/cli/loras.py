"""``stationthis loras list|set`` (the servers' LoRA files as users see them) and
``stationthis describe IMAGE`` (an image → prompts to run)."""

from __future__ import annotations

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
from stationthis.core.errors import StationError
from stationthis.workflows import describe as describing
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from stationthis.workflows.server_loras import ServerLoras

loras_cli = typer.Typer(
    help="The LoRAs the generation servers have: names, trigger words, price factors.",
    no_args_is_help=True,
)


def _catalog(app: App) -> ServerLoras:
    if app.server_loras is None:
        fail("server LoRAs are not available here", 1)
    return app.server_loras


@loras_cli.command("list")
def loras_list(
    everything: Annotated[bool, typer.Option("--all", help="also hidden ones and files the "
                                             "servers no longer list")] = False,
) -> None:
    """The servers' LoRAs: name, trigger words, price factor, file."""

    async def body(app: App) -> None:
        found = await _catalog(app).all(include_hidden=everything)
        if not found:
            typer.echo(f"the {app.engine.name} engine's servers list no LoRAs")
            return
        for lora in found:
            flags = [f for f, on in (("hidden", lora.hidden),
                                     ("not on the servers", not lora.available)) if on]
            triggers = ", ".join(lora.triggers) or "-"
            typer.echo(f"{lora.name:<24} ×{lora.price_factor:g}  triggers: {triggers}  "
                       f"file: {lora.file_name}" + (f"  ({', '.join(flags)})" if flags else ""))
            if lora.preview:
                typer.echo(f"    preview: {lora.preview}")
        typer.echo("use one: loras=NAME (--set loras=NAME:0.8), <lora:NAME:0.8> in a prompt, "
                   "or a trigger word")

    run(body)


@loras_cli.command("set")
def loras_set(
    file: Annotated[str, typer.Argument(help="the file name the servers list (or without "
                                        "its extension)")],
    name: Annotated[str | None, typer.Option(help="display name ('' clears it)")] = None,
    triggers: Annotated[str | None, typer.Option(help="trigger words, comma-separated")] = None,
    price_factor: Annotated[float | None, typer.Option(help="price multiplier, 0-20")] = None,
    preview: Annotated[str | None, typer.Option(help="an https:// image URL")] = None,
    hide: Annotated[bool | None, typer.Option("--hide/--show", help="leave it out of lists "
                                              "and refuse it")] = None,
) -> None:
    """Set what users see of a server LoRA file (operators). The audit log records it, as
    done by `cli`, with what it was and what it is now."""
    words = None if triggers is None else [t for t in triggers.split(",") if t.strip()]
    changes = given({"name": name, "triggers": words, "preview": preview,
                     "price_factor": price_factor, "hidden": hide})

    async def body(app: App) -> None:
        if app.operators is None:
            fail("the operators' tools are not available here", 1)
        try:
            lora = await app.operators.set_server_lora(None, _catalog(app), file, **changes)
        except StationError as exc:
            fail(exc.message)
        typer.echo(f"{lora.file_name}: name {lora.name!r} · triggers "
                   f"{', '.join(lora.triggers) or '-'} · ×{lora.price_factor:g}"
                   + (" · hidden" if lora.hidden else ""))

    run(body)


def describe(
    image: Annotated[str, typer.Argument(help="an image file, or the id of an image of yours")],
    user: UserOpt = "local",
    group: Annotated[str | None, typer.Option(help="the group it is asked in: PLATFORM:ID")
                     ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the price; run nothing")
                       ] = False,
) -> None:
    """Describe an image: 3-4 prompts for what it shows, each ready for `stationthis make`."""

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        chat = await resolve_group(app, group) if group else None
        tool = describing.describe_tool(app.tools)
        media_id = await media_of(app, account, image, "image")
        request = Request(tool, images={"image": media_id})
        quote = await app.make_image.quote(account, request, group=chat)
        typer.echo(f"{tool}: {quote.points} points (you have {quote.available})")
        if dry_run:
            if not quote.fits:
                typer.echo(f"  short by {quote.points - quote.available} points")
            typer.echo("dry run: nothing was held or run")
            return
        echo_progress(app, account)
        job = await app.make_image.make(account, request, reply=CLI_REPLY, group=chat)
        job = await app.jobs.wait(job.id)
        if job.state != "succeeded":
            fail(f"job {job.id} {job.state}: {job.error or ''} (nothing was charged)", 1)
        for number, prompt in enumerate(await describing.prompts(app.media, job), 1):
            typer.echo(f"{number}. {prompt}")
            typer.echo(f"   run it: stationthis make {_quoted(prompt)}")
        typer.echo(f"job {job.id} · cost {job.cost} points")

    run(body, start=not dry_run)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
