"""What a user made and what is running: ``history``, ``seed``, ``card``, ``status`` and
``cancel``. The user is -u/--user (default: local); the older form, the user as the first
argument (``stationthis card USER IMAGE``), still works."""

from __future__ import annotations

from typing import Annotated

import typer

from stationthis.cli.common import OlderArg, UserGiven, older_form, resolve_user, run
from stationthis.workflows.app import App


def history(
    older: OlderArg = None,
    user: UserGiven = None,
    last: Annotated[int, typer.Option(min=1, max=100, help="how many jobs")] = 10,
    tool: Annotated[str | None, typer.Option(help="only jobs of this tool")] = None,
) -> None:
    """A user's last jobs: tool and version, parameters, seed, outputs, cost, timings.

    Older form: stationthis history USER."""
    user, _ = older_form("history USER", user, [], older, required=0)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        entries = await app.history.recent(account, last, tool)
        if not entries:
            typer.echo("no jobs yet")
        for e in entries:
            took = f" · {e.duration:.1f} s" if e.duration is not None else ""
            cost = f"cost {e.cost}" if e.cost is not None else f"held {e.quote}"
            seed = f" · seed {e.seed}" if e.seed is not None else ""
            origin = f" · {e.origin} of {e.parent_id}" if e.origin else ""
            typer.echo(f"{e.created_at:%Y-%m-%d %H:%M:%S}  {e.job_id}  {e.tool}@"
                       f"{e.tool_version or '?'}  {e.state}{seed} · {cost}{took}{origin}")
            shown = ", ".join(f"{k}={v!r}" for k, v in sorted(e.params.items()) if k != "seed")
            typer.echo(f"    params: {shown}")
            for name, media_id in sorted(e.inputs.items()):
                typer.echo(f"    input {name}: {media_id}")
            if e.outputs:
                typer.echo(f"    outputs: {' '.join(e.outputs)}")
            if e.error:
                typer.echo(f"    error: {e.error}")

    run(body)


def seed(
    id_: Annotated[str, typer.Argument(metavar="ID", help="a job id or an image id")],
    older: OlderArg = None,
    user: UserGiven = None,
) -> None:
    """The seed of a job or of one image.

    Older form: stationthis seed USER ID."""
    user, (id_,) = older_form("seed USER ID", user, [id_], older, required=1)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        typer.echo(str(await app.history.get_seed(account, id_)))

    run(body)


def card(
    media: Annotated[str, typer.Argument(metavar="IMAGE", help="image id")],
    older: OlderArg = None,
    user: UserGiven = None,
    as_json: Annotated[bool, typer.Option("--json", help="for `stationthis rerun`")] = False,
) -> None:
    """The reproducibility card of an image: everything needed to make it again.

    Older form: stationthis card USER IMAGE."""
    user, (media,) = older_form("card USER IMAGE", user, [media], older, required=1)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        recipe = await app.history.card(account, media)
        typer.echo(recipe.to_json() if as_json else recipe.to_text())

    run(body)


def status(older: OlderArg = None, user: UserGiven = None) -> None:
    """A user's queued and running jobs: place in the queue, progress and ETA.

    Older form: stationthis status USER."""
    user, _ = older_form("status USER", user, [], older, required=0)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        active = await app.status.active(account)
        if not active:
            typer.echo("nothing queued or running")
        for a in active:
            place = f"#{a.position} in the queue" if a.position is not None else a.state
            eta = f"eta {a.eta_seconds:.0f} s" if a.eta_seconds is not None else "eta unknown"
            stop = " · stopping" if a.cancel_requested else ""
            typer.echo(f"job {a.job_id}  {a.tool}  {a.state}  {place}  {a.percent}%  {eta}  "
                       f"(holds {a.quote} points){stop}")

    run(body)


def cancel(
    job: Annotated[str, typer.Argument(metavar="JOB|all", help="a job id, or all")],
    older: OlderArg = None,
    user: UserGiven = None,
) -> None:
    """Cancel a queued or running job (or all of them); their points are released.

    Older form: stationthis cancel USER JOB|all."""
    user, (job,) = older_form("cancel USER JOB|all", user, [job], older, required=1)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        if job == "all":
            results = await app.status.cancel_all(account)
        else:
            results = [await app.status.cancel(account, job)]
        if not results:
            typer.echo("nothing to cancel")
        for r in results:
            typer.echo(f"cancelled {r.job_id} (released {r.released} points)" if r.done else
                       f"stop requested for {r.job_id} ({r.state}; its points are released "
                       "when it stops)")

    run(body)
