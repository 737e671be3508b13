"""``stationthis …``: run the service, make images, manage points and tools."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from . import cli_admin as _cli_admin
from . import log_redaction
from .bootstrap import build
from .config import Settings, SettingsError, load_settings
from .core.errors import InsufficientPoints, StationError
from .core.events import Event, JobProgressed
from .core.text import NOT_UTF8, is_valid_text
from .core.users import Identity
from .workflows.app import App
from .workflows.limits import fmt
from .workflows.make_image import Request
from .workflows.settings import SettingsView

cli = typer.Typer(help="StationThis: a self-hostable AI image studio.", no_args_is_help=True)
points_cli = typer.Typer(help="Points: balances, grants and the ledger.", no_args_is_help=True)
tools_cli = typer.Typer(help="Generation tools (ComfyUI workflow templates).", no_args_is_help=True)
db_cli = typer.Typer(help="The database.", no_args_is_help=True)
cli.add_typer(points_cli, name="points")
cli.add_typer(tools_cli, name="tools")
cli.add_typer(db_cli, name="db")

T = TypeVar("T")
UserOpt = Annotated[str, typer.Option("--user", "-u", help="NAME or PLATFORM:ID")]


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("stationthis").setLevel(settings.log_level)
    log_redaction.install()  # tokens in URLs (sign-in and share links, webhooks) never logged
    return settings


def _prepare_db(settings: Settings) -> None:
    """The embedded default (SQLite) migrates itself; PostgreSQL needs `stationthis db upgrade`
    (many processes must not race to migrate). Either way a database we cannot use stops us
    here with one line, not a traceback."""
    from .migrations import pending, upgrade

    try:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            upgrade(settings.db_url)
        elif pending(settings.db_url):
            _fail("the database schema is not up to date: run `stationthis db upgrade`")
    except (OSError, SQLAlchemyError) as exc:
        _fail(f"cannot use the database at {_safe_url(settings.db_url)}: {_reason(exc)}")


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


def _reason(exc: BaseException) -> str:
    """The root cause of a database error, in one line."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _run(body: Callable[[App], Awaitable[T]], *, start: bool = False) -> T:
    settings = _settings()
    _prepare_db(settings)

    async def main() -> T:
        app = build(settings)
        try:
            if start:
                await app.start(resume=False)
            return await body(app)
        finally:
            await app.stop()

    try:
        return asyncio.run(main())
    except SettingsError as exc:  # e.g. no secret for ComfyUI Deploy's webhook tokens
        _fail(str(exc))
    except (OSError, SQLAlchemyError) as exc:
        _fail(f"cannot use the database at {_safe_url(settings.db_url)}: {_reason(exc)}", 1)
    except StationError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        if isinstance(exc, InsufficientPoints):
            for alt in exc.details.get("alternatives", []):
                typer.echo(f"  fits: {alt.description} — {alt.points} points", err=True)
        raise typer.Exit(1) from None


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: STATIONTHIS_HOST")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="default: STATIONTHIS_PORT")
    ] = None,
    web_only: Annotated[
        bool, typer.Option("--web-only", help="no jobs here: `stationthis worker`s run them")
    ] = False,
) -> None:
    """Run the service: web app and API, and an in-process worker (unless --web-only)."""
    import uvicorn

    from .platforms.web.app import create_app

    settings = _settings()
    _prepare_db(settings)
    try:
        secret_note = settings.resolve_secret()  # said once the rest has started
    except SettingsError as exc:
        _fail(str(exc))
    try:
        app = build(settings, role="web" if web_only else "embedded")
        web = create_app(app, hosted=hosted_platforms(app, settings, receive=True))
    except StationError as exc:
        _fail(exc.message, 1)
    logging.getLogger("stationthis").info(secret_note)
    typer.echo(f"StationThis on http://{host or settings.host}:{port or settings.port}")
    uvicorn.run(web, host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level.lower(),
                # X-Forwarded-For/-Proto only from the proxies named in TRUSTED_PROXIES
                proxy_headers=bool(settings.trusted_proxies),
                forwarded_allow_ips=settings.trusted_proxies or None)


@cli.command()
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
) -> None:
    """Generate an image: quote, hold points, run, store, capture."""
    options: dict[str, Any] = {"prompt": prompt, "seed": seed, "width": width,
                               "height": height, "steps": steps, "batch": batch}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep:
            typer.echo(f"error: --set takes NAME=VALUE, got {item!r}", err=True)
            raise typer.Exit(2)
        options[key.strip()] = value
    options = {k: v for k, v in options.items() if v is not None}

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        chat = await app.users.resolve(Identity.parse(group), kind="group") if group else None
        name = tool or await app.make_image.default_tool(account, chat)

        async def show(event: Event) -> None:
            if isinstance(event, JobProgressed) and event.owner_id == account.id:
                pct = event.progress.get("percent")
                if pct is not None:
                    typer.echo(f"  {pct:3d}% {event.progress.get('message', '')}", err=True)

        app.bus.subscribe(show, JobProgressed)
        quote = await app.make_image.quote(account, Request(name, options), group=chat)
        typer.echo(f"{name}: {quote.points} points (you have {quote.available})")
        job = await app.make_image.make(account, Request(name, options),
                                        reply={"platform": "cli"}, group=chat)
        job = await app.jobs.wait(job.id)
        if job.state != "succeeded":
            typer.echo(f"error: job {job.state}: {job.error or ''} "
                       f"(nothing was charged)", err=True)
            raise typer.Exit(1)
        for media_id in job.outputs:
            item = await app.media.get(media_id)
            path = Path(app.settings.media_dir or "") / item.key
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                path = out / f"{job.id}_{media_id[:8]}.png"
                path.write_bytes(await app.media.read(item))
            typer.echo(f"image: {path} ({item.width}×{item.height})")
        balance = await app.ledger.balance(account.id)
        typer.echo(f"seed {job.params.get('seed')} · cost {job.cost} points "
                   f"(held {job.quote}, released {job.quote - (job.cost or 0)}) · "
                   f"balance {balance.total}")

    _run(body, start=True)


# --- again, history and status: regenerate, variations, tweak, upscale, rmbg, cards --------
# (commands that act take --user like `make`; those that only look take the USER argument)

DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="print the price; run nothing")]
OutOpt = Annotated[Path | None, typer.Option(help="also copy the images into this folder")]
GroupOpt = Annotated[str | None, typer.Option(help="the group it is made in: PLATFORM:ID")]
AccountArg = Annotated[str, typer.Argument(metavar="USER", help="NAME or PLATFORM:ID")]


def _again(
    user: str, group: str | None, dry_run: bool, out: Path | None, label: str,
    quote: Callable[[App, Any, Any], Awaitable[Any]],
    start: Callable[[App, Any, Any], Awaitable[Any]],
) -> None:
    """Price a request (``quote(app, account, group)``); unless a dry run, start it
    (``start(app, account, group)``), wait for it and print its images as `make` does."""
    if out is not None and not dry_run:
        out.mkdir(parents=True, exist_ok=True)

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        chat = await app.users.resolve(Identity.parse(group), kind="group") if group else None
        price = await quote(app, account, chat)
        typer.echo(f"{label} with {price.tool}: {price.points} points "
                   f"(you have {price.available})")
        if dry_run:
            for alt in price.alternatives:
                typer.echo(f"  fits: {alt.description} — {alt.points} points")
            typer.echo("dry run: nothing was held or run")
            return

        async def show(event: Event) -> None:
            if isinstance(event, JobProgressed) and event.owner_id == account.id:
                pct = event.progress.get("percent")
                if pct is not None:
                    typer.echo(f"  {pct:3d}% {event.progress.get('message', '')}", err=True)

        app.bus.subscribe(show, JobProgressed)
        job = await app.jobs.wait((await start(app, account, chat)).id)
        if job.state != "succeeded":
            _fail(f"job {job.id} {job.state}: {job.error or ''} (nothing was charged)", 1)
        for media_id in job.outputs:
            item = await app.media.get(media_id)
            path = Path(app.settings.media_dir or "") / item.key
            if out is not None:
                path = out / f"{job.id}_{media_id[:8]}.png"
                await asyncio.to_thread(path.write_bytes, await app.media.read(item))
            typer.echo(f"image: {path} ({item.width}×{item.height})")
            typer.echo(f"media: {media_id}")
        balance = await app.ledger.balance(account.id)
        seed = f" · seed {job.params['seed']}" if "seed" in job.params else ""
        typer.echo(f"job {job.id}{seed} · cost {job.cost} points (held {job.quote}, "
                   f"released {job.quote - (job.cost or 0)}) · balance {balance.total}")

    _run(body, start=not dry_run)


@cli.command()
def regen(
    job: Annotated[str, typer.Argument(help="job id (see `stationthis history`)")],
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Regenerate a job: the same tool and parameters with a new seed."""
    _again(user, group, dry_run, out, f"regenerate {job}",
           lambda app, me, chat: app.again.quote_regenerate(me, job, group=chat),
           lambda app, me, chat: app.again.regenerate(me, job, group=chat,
                                                      reply={"platform": "cli"}))


@cli.command()
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
                                                reply={"platform": "cli"}))


@cli.command()
def tweak(
    job: Annotated[str, typer.Argument(help="job id (see `stationthis history`)")],
    changes: Annotated[list[str], typer.Argument(metavar="KEY=VALUE...", help="e.g. steps=30")],
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Run a job again with some parameters changed (the seed stays unless changed)."""
    values: dict[str, Any] = {}
    for item in changes:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail(f"tweak takes KEY=VALUE, got {item!r}")
        values[key.strip()] = value
    _again(user, group, dry_run, out, f"tweak of {job}",
           lambda app, me, chat: app.again.quote_tweak(me, job, group=chat, **values),
           lambda app, me, chat: app.again.tweak(me, job, group=chat,
                                                 reply={"platform": "cli"}, **values))


@cli.command()
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
                                                   reply={"platform": "cli"}))


@cli.command()
def rmbg(
    media: Annotated[str, typer.Argument(help="image id: an output or an upload")],
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Remove the background of an image."""
    _again(user, group, dry_run, out, f"background removal of {media}",
           lambda app, me, chat: app.again.quote_remove_background(me, media, group=chat),
           lambda app, me, chat: app.again.remove_background(me, media, group=chat,
                                                             reply={"platform": "cli"}))


@cli.command()
def rerun(
    card: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="a card saved by `stationthis card --json`")],
    force: Annotated[bool, typer.Option(help="run even if the tool or engine changed")] = False,
    user: UserOpt = "local", group: GroupOpt = None, dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Run a reproducibility card again, exactly (the same seed)."""
    from .workflows.history import ReproCard

    recipe = ReproCard.from_json(card.read_text(encoding="utf-8"))
    _again(user, group, dry_run, out, f"rerun of {card.name}",
           lambda app, me, chat: app.history.quote_rerun(me, recipe, force=force, group=chat),
           lambda app, me, chat: app.history.rerun(me, recipe, force=force, group=chat,
                                                   reply={"platform": "cli"}))


@cli.command()
def upload(
    user: AccountArg,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="PNG, JPEG or WEBP")],
) -> None:
    """Store a local image for a user (checked and re-encoded); prints its media id."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        item = await app.media.ingest(account.id, file.read_bytes())
        typer.echo(f"media: {item.id} ({item.width}×{item.height})")

    _run(body)


@cli.command("history")
def history_(
    user: AccountArg,
    last: Annotated[int, typer.Option(min=1, max=100, help="how many jobs")] = 10,
    tool: Annotated[str | None, typer.Option(help="only jobs of this tool")] = None,
) -> None:
    """A user's last jobs: tool and version, parameters, seed, outputs, cost, timings."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
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

    _run(body)


@cli.command()
def seed(
    user: AccountArg,
    id_: Annotated[str, typer.Argument(metavar="ID", help="a job id or an image id")],
) -> None:
    """The seed of a job or of one image."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        typer.echo(str(await app.history.get_seed(account, id_)))

    _run(body)


@cli.command()
def card(
    user: AccountArg,
    media: Annotated[str, typer.Argument(help="image id")],
    as_json: Annotated[bool, typer.Option("--json", help="for `stationthis rerun`")] = False,
) -> None:
    """The reproducibility card of an image: everything needed to make it again."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        recipe = await app.history.card(account, media)
        typer.echo(recipe.to_json() if as_json else recipe.to_text())

    _run(body)


@cli.command()
def status(user: AccountArg) -> None:
    """A user's queued and running jobs: place in the queue, progress and ETA."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        active = await app.status.active(account)
        if not active:
            typer.echo("nothing queued or running")
        for a in active:
            place = f"#{a.position} in the queue" if a.position is not None else a.state
            eta = f"eta {a.eta_seconds:.0f} s" if a.eta_seconds is not None else "eta unknown"
            stop = " · stopping" if a.cancel_requested else ""
            typer.echo(f"job {a.job_id}  {a.tool}  {a.state}  {place}  {a.percent}%  {eta}  "
                       f"(holds {a.quote} points){stop}")

    _run(body)


@cli.command()
def cancel(
    user: AccountArg,
    job: Annotated[str, typer.Argument(metavar="JOB|all", help="a job id, or all")],
) -> None:
    """Cancel a queued or running job (or all of them); their points are released."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
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

    _run(body)


@points_cli.command("grant")
def points_grant(
    user: Annotated[str, typer.Argument(help="NAME or PLATFORM:ID")],
    amount: Annotated[int, typer.Argument(min=1)],
    memo: str = "granted by an operator",
    key: Annotated[str | None, typer.Option(help="idempotency key (default: random)")] = None,
) -> None:
    """Give a user points (purchased credit)."""
    import uuid

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        done = await app.account.grant(account, amount, key=key or f"cli:{uuid.uuid4().hex}",
                                       memo=memo)
        balance = await app.ledger.balance(account.id)
        typer.echo(("granted" if done else "already granted (same key)")
                   + f" · balance {balance.total}")

    _run(body)


@points_cli.command("balance")
def points_balance(user: Annotated[str, typer.Argument(help="NAME or PLATFORM:ID")]) -> None:
    """A user's balance: free allowance and purchased credit."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        view = await app.account.balance(account)
        b = view.balance
        typer.echo(f"{user}: {b.total} points "
                   f"(allowance {b.allowance}/{b.allowance_max}, credit {b.credit})")
        if view.full_in is not None:
            minutes = int(view.full_in.total_seconds() // 60)
            typer.echo(f"allowance full again in {minutes // 60} h {minutes % 60} min")

    _run(body)


@points_cli.command("history")
def points_history(
    user: Annotated[str, typer.Argument(help="NAME or PLATFORM:ID")], limit: int = 20
) -> None:
    """The newest rows of a user's ledger."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        for e in await app.account.history(account, limit):
            charged = f" charged {e.charged}" if e.charged is not None else ""
            typer.echo(f"{e.created_at:%Y-%m-%d %H:%M:%S}  {e.kind:<9} {e.bucket:<9} "
                       f"{e.amount:+6d}{charged}  {e.ref or ''}  {e.memo or ''}".rstrip())
        bought = await purchase_lines(app, account)  # the receipts (cli_purchases.py)
        for line in ["purchases:", *bought] if bought else []:
            typer.echo(line)

    _run(body)


@tools_cli.command("list")
def tools_list() -> None:
    """The tools this instance offers, their inputs and their prices."""
    settings = _settings()
    from .bootstrap import _tools

    try:
        registry = _tools(settings)
    except StationError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    for tool in registry.all():
        if tool.category == "train":
            price_text = "priced per dataset (`stationthis train quote`)"
        else:
            price = tool.price({i.name: i.default for i in tool.inputs.values()})
            price_text = f"from {price} points"
        typer.echo(f"{tool.name:<12} {tool.category:<8} {price_text}  {tool.description}")
        for spec in tool.inputs.values():
            bounds = f" [{spec.min}..{spec.max}]" if spec.min is not None else ""
            choices = f" one of {list(spec.choices)}" if spec.choices else ""
            default = f" = {spec.default!r}" if spec.default not in (None, "", []) else ""
            typer.echo(f"    {spec.name}: {spec.type}{bounds}{choices}{default}")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date."""
    from .migrations import upgrade

    settings = _settings()
    try:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.db_url)
    except (OSError, SQLAlchemyError) as exc:
        _fail(f"cannot use the database at {_safe_url(settings.db_url)}: {_reason(exc)}")
    typer.echo("database is up to date")


# ----- settings and users: per-user settings, group defaults, tiers, bans ------------------

settings_cli = typer.Typer(
    help="Per-user settings and group defaults for generation.", no_args_is_help=True
)
users_cli = typer.Typer(help="Users: bans, tiers, what an account holds.", no_args_is_help=True)
cli.add_typer(settings_cli, name="settings")
cli.add_typer(users_cli, name="users")
UserArg = Annotated[str, typer.Argument(help="NAME or PLATFORM:ID")]
GroupArg = Annotated[str, typer.Argument(help="a group: PLATFORM:ID (e.g. telegram:-1001234)")]


def _echo_settings(title: str, view: SettingsView) -> None:
    typer.echo(f"{title}: {view.tier} tier · default tool {view.tool} · "
               f"at most {view.max_pixels} pixels per image")
    for item in view.items.values():
        value = "random" if item.key == "seed" and item.value == -1 else item.value
        shown = "—" if value in (None, "") else str(value)
        if item.choices is not None:
            allowed = "one of " + ", ".join(item.choices)
        elif item.low is not None or item.high is not None:
            low = "" if item.low is None else fmt(item.low)
            allowed = f"{low}–{fmt(item.high)}" + (f" ({item.tier} tier)" if item.tier else "")
        else:
            allowed = ""
        typer.echo(f"  {item.key:<11} {shown[:40]:<40} {item.source:<8} {allowed}".rstrip())


@settings_cli.command("show")
def settings_show(
    user: UserArg,
    group: Annotated[str | None, typer.Option(help="as in this group: PLATFORM:ID")] = None,
) -> None:
    """A user's settings: each value, where it comes from, and the allowed range."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        chat = await app.users.resolve(Identity.parse(group), kind="group") if group else None
        title = f"{user} in {group}" if group else user
        _echo_settings(title, await app.user_settings.show(account, chat))

    _run(body)


@settings_cli.command("set")
def settings_set(
    user: UserArg,
    key: Annotated[str, typer.Argument(help="size, width, height, steps, cfg, strength, seed, "
                                            "batch, negative, checkpoint or tool")],
    value: Annotated[str, typer.Argument(help="e.g. 30, 1024x768, random")],
) -> None:
    """Set one of a user's settings (checked against the tool and the user's tier)."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        _echo_settings(user, await app.user_settings.set(account, key, value))

    _run(body)


@settings_cli.command("reset")
def settings_reset(
    user: UserArg,
    key: Annotated[str | None, typer.Argument(help="one setting (default: all)")] = None,
) -> None:
    """Forget one of a user's settings, or all of them."""

    async def body(app: App) -> None:
        account = await app.users.resolve(Identity.parse(user))
        _echo_settings(user, await app.user_settings.reset(account, key))

    _run(body)


@settings_cli.command("group-set")
def settings_group_set(
    group: GroupArg,
    key: Annotated[str, typer.Argument(help="a setting, as for `settings set`")],
    value: str,
) -> None:
    """Set a default for the members of a group (their own settings still come first)."""

    async def body(app: App) -> None:
        chat = await app.users.resolve(Identity.parse(group), kind="group")
        _echo_settings(group, await app.user_settings.set_group(None, chat, key, value))

    _run(body)


@settings_cli.command("group-reset")
def settings_group_reset(
    group: GroupArg,
    key: Annotated[str | None, typer.Argument(help="one setting (default: all)")] = None,
) -> None:
    """Forget one of a group's defaults, or all of them."""

    async def body(app: App) -> None:
        chat = await app.users.resolve(Identity.parse(group), kind="group")
        _echo_settings(group, await app.user_settings.reset_group(None, chat, key))

    _run(body)


@users_cli.command("show")
def users_show(user: UserArg) -> None:
    """A user's identities, tier, ban and balance."""

    async def body(app: App) -> None:
        view = await app.admin.show(await app.users.resolve(Identity.parse(user)))
        b = view.balance
        typer.echo(f"{user}: {view.account.kind} {view.account.name!r} · {view.tier} tier · "
                   + ("BANNED" if view.account.banned else "not banned"))
        typer.echo("identities: " + ", ".join(str(i) for i in view.identities))
        typer.echo(f"balance: {b.total} points (allowance {b.allowance}/{b.allowance_max}, "
                   f"credit {b.credit})")

    _run(body)


@users_cli.command("ban")
def users_ban(user: UserArg) -> None:
    """Block a user from generating (quotes and jobs are refused)."""

    async def body(app: App) -> None:
        await app.admin.ban(await app.users.resolve(Identity.parse(user)))
        typer.echo(f"{user} is banned: generation is refused")

    _run(body)


@users_cli.command("unban")
def users_unban(user: UserArg) -> None:
    """Lift a ban."""

    async def body(app: App) -> None:
        await app.admin.unban(await app.users.resolve(Identity.parse(user)))
        typer.echo(f"{user} is no longer banned")

    _run(body)


@users_cli.command("tier")
def users_tier(
    user: UserArg, tier: Annotated[str, typer.Argument(help="a tier of STATIONTHIS_TIERS")],
    group: Annotated[bool, typer.Option("--group", help="USER is a group (PLATFORM:ID)")] = False,
) -> None:
    """Put a user on a tier: it decides their limits. A group's tier lifts its members' limits
    for requests made in the group."""

    async def body(app: App) -> None:
        kind = "group" if group else "user"
        account = await app.users.resolve(Identity.parse(user), kind=kind)
        account = await app.admin.set_tier(account, tier)
        typer.echo(f"{user} is on the {account.tier} tier")

    _run(body)


_cli_admin.register(users_cli, _run)  # `stationthis users admin NAME` (cli_admin.py)


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


def _add_training_commands() -> None:
    from .cli_train import dataset_cli, models_list, train_cli

    cli.add_typer(dataset_cli, name="dataset")
    cli.add_typer(train_cli, name="train")
    cli.command("models")(models_list)


_add_training_commands()
from .cli_collections import register as _register_collections  # noqa: E402

_register_collections(cli)  # `stationthis collections …` and `stationthis cook …`
from .cli_discord import discord_cli as _discord_cli  # noqa: E402

cli.add_typer(_discord_cli, name="discord")  # `stationthis discord register`
from .cli_worker import hosted_platforms  # noqa: E402
from .cli_worker import worker as _worker  # noqa: E402

cli.command("worker")(_worker)  # `stationthis worker`: runs jobs beside --web-only nodes
from .cli_media import media_cli as _media_cli  # noqa: E402

cli.add_typer(_media_cli, name="media")  # `stationthis media prune [--dry-run]`
from .cli_purchases import purchase_lines, purchases_cli  # noqa: E402

cli.add_typer(purchases_cli, name="purchases")  # `stationthis purchases list|refund`
