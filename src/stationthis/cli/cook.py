"""``stationthis cook …``: cook a collection from a master prompt and traits, follow the run,
review its pieces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from stationthis.cli.common import UserOpt, fail, resolve_user, run
from stationthis.core.events import CookProgressed, Event
from stationthis.core.replies import CliReply
from stationthis.workflows.app import App

cook_cli = typer.Typer(help="Cook a collection from a master prompt and traits.",
                       no_args_is_help=True)


@cook_cli.command("configure")
def configure(collection_id: str, config: Path, user: UserOpt = "local") -> None:
    """Set the cook configuration from a JSON file (master_prompt, trait_types, supply, …)."""
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read {config}: {exc}")

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        parsed = await app.cook.configure(owner, collection_id, data)
        typer.echo(f"cook configuration saved: {parsed.supply} pieces, "
                   f"{len(parsed.trait_types)} trait types, hash {parsed.hash[:12]}")
        for plan in await app.cook.preview(owner, collection_id, 3):
            typer.echo(f"  #{plan.number}: {plan.prompt}")

    run(body, start=True)


@cook_cli.command("quote")
def quote(collection_id: str, user: UserOpt = "local") -> None:
    """The price of the pieces still to make, and how many your balance covers."""

    async def body(app: App) -> None:
        _echo_quote(await app.cook.quote(await resolve_user(app, user), collection_id))

    run(body, start=True)


def _echo_quote(q: Any) -> None:
    typer.echo(f"cook: {q.pieces} pieces × {q.per_piece} = {q.points} points "
               f"(you have {q.available})")
    if not q.enough:
        typer.echo(f"your balance covers {q.fits} of {q.pieces} pieces")


def _status_line(s: Any) -> str:
    reason = f" · {s.reason}" if s.reason else ""
    return (f"{s.state} {s.progress} made · {s.failed} failed · {s.kept} kept · "
            f"{s.rejected} rejected{reason}")


@cook_cli.command("start")
def start(collection_id: str, user: UserOpt = "local",
          again: Annotated[bool, typer.Option(help="a fresh run of a cooked config")] = False,
          wait: Annotated[bool, typer.Option(help="stay until the run stops")] = True,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="print the price; run nothing")
                             ] = False) -> None:
    """Start (or continue) cooking, with progress, until it finishes or pauses."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        if dry_run:
            _echo_quote(await app.cook.quote(owner, collection_id))
            typer.echo("dry run: nothing was held or run")
            return
        last = {"text": ""}

        async def show(event: Event) -> None:
            if isinstance(event, CookProgressed) and event.collection_id == collection_id:
                text = f"  {event.done}/{event.total}"
                if text != last["text"]:
                    last["text"] = text
                    typer.echo(text, err=True)

        app.bus.subscribe(show, CookProgressed)
        status = await app.cook.start(owner, collection_id, again=again,
                                      reply=CliReply())
        if status.recognised:
            typer.echo(f"same configuration as run {status.run_id}: continuing it")
        if wait:
            status = await app.cook.drive(owner, collection_id)
        typer.echo(_status_line(status))

    run(body, start=True)


def _simple(action: str) -> Any:
    def command(collection_id: str, user: UserOpt = "local") -> None:
        async def body(app: App) -> None:
            owner = await resolve_user(app, user)
            status = await getattr(app.cook, action)(owner, collection_id)
            typer.echo(_status_line(status))

        run(body, start=True)

    command.__doc__ = {"status": "Where the run stands.", "pause": "Pause: no new pieces start.",
                       "resume": "Resume a paused run (run `cook start` to stay with it).",
                       "cancel": "Cancel: running pieces stop and their points come back."
                       }[action]
    return command


for _action in ("status", "pause", "resume", "cancel"):
    cook_cli.command(_action)(_simple(_action))


@cook_cli.command("pieces")
def pieces(collection_id: str, user: UserOpt = "local", page: int = 1,
           state: Annotated[str | None, typer.Option(help="e.g. done, failed")] = None) -> None:
    """The pieces of the latest run: traits, state and review."""

    async def body(app: App) -> None:
        for p in await app.cook.pieces(await resolve_user(app, user), collection_id, state=state,
                                       page=page):
            traits = ", ".join(f"{a['trait_type']}: {a['value']}" for a in p.attributes)
            review = f" ({p.review})" if p.review else ""
            error = f" — {p.error}" if p.error else ""
            typer.echo(f"  #{p.number:<4} {p.state}{review}  [{traits}]{error}")

    run(body, start=True)


def _review(action: str) -> Any:
    def command(collection_id: str, numbers: list[int], user: UserOpt = "local") -> None:
        async def body(app: App) -> None:
            owner = await resolve_user(app, user)
            for number in numbers:
                await getattr(app.cook, action)(owner, collection_id, number)
                typer.echo(f"#{number}: {action}")
            if action == "regenerate":
                typer.echo(_status_line(await app.cook.drive(owner, collection_id)))

        run(body, start=True)

    command.__doc__ = {"keep": "Keep pieces: they become items with their traits.",
                       "reject": "Reject pieces (a kept one leaves the collection).",
                       "regenerate": "Make pieces again (same traits, new seed); retries "
                                     "failed ones."}[action]
    return command


for _action in ("keep", "reject", "regenerate"):
    cook_cli.command(_action)(_review(_action))
