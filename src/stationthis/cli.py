"""``stationthis …``: run the service, make images, manage points and tools."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from .bootstrap import build
from .config import Settings, SettingsError, load_settings
from .core.errors import InsufficientPoints, StationError
from .core.events import Event, JobProgressed
from .core.users import Identity
from .workflows.app import App
from .workflows.make_image import Request

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
                await app.start()
            return await body(app)
        finally:
            await app.stop()

    try:
        return asyncio.run(main())
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
) -> None:
    """Run the service: web app and API, and an in-process worker."""
    import uvicorn

    from .platforms.web.app import create_app

    settings = _settings()
    _prepare_db(settings)
    try:
        web = create_app(build(settings))
    except StationError as exc:
        _fail(exc.message, 1)
    typer.echo(f"StationThis on http://{host or settings.host}:{port or settings.port}")
    uvicorn.run(web, host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level.lower())


@cli.command()
def make(
    prompt: Annotated[str, typer.Argument(help="what to draw")],
    user: UserOpt = "local",
    seed: Annotated[int | None, typer.Option(help="same prompt + seed = same image")] = None,
    out: Annotated[Path | None, typer.Option(help="also copy the images into this folder")] = None,
    tool: Annotated[str, typer.Option(help="tool name (see `stationthis tools list`)")] = "make",
    width: int | None = None,
    height: int | None = None,
    steps: int | None = None,
    batch: int | None = None,
    option: Annotated[
        list[str] | None, typer.Option("--set", help="any tool input: NAME=VALUE")
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

        async def show(event: Event) -> None:
            if isinstance(event, JobProgressed) and event.owner_id == account.id:
                pct = event.progress.get("percent")
                if pct is not None:
                    typer.echo(f"  {pct:3d}% {event.progress.get('message', '')}", err=True)

        app.bus.subscribe(show, JobProgressed)
        quote = await app.make_image.quote(account, Request(tool, options))
        typer.echo(f"{tool}: {quote.points} points (you have {quote.available})")
        job = await app.make_image.make(account, Request(tool, options),
                                        reply={"platform": "cli"})
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
        price = tool.price({i.name: i.default for i in tool.inputs.values()})
        typer.echo(f"{tool.name:<12} {tool.category:<8} from {price} points  {tool.description}")
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


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
