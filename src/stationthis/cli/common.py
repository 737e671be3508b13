"""What every command shares: settings, the database check, running a body against a built
app, one-line errors, and the options and arguments several commands take."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperCommand

from stationthis import log_redaction
from stationthis.bootstrap import build
from stationthis.config import Settings, SettingsError, load_settings
from stationthis.core.errors import InsufficientPoints, StationError
from stationthis.core.events import Event, JobProgressed
from stationthis.core.replies import CliReply
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App

T = TypeVar("T")
LOCAL = Identity("web", "local")  # the command line's own user: --user's default
UserOpt = Annotated[str, typer.Option("--user", "-u", help="NAME or PLATFORM:ID")]

# The commands that once took the user as their first argument (`card USER IMAGE`) name it
# with -u/--user like every other command (`card IMAGE -u USER`), and the older form still
# works: its extra argument lands in a hidden one after the others, and ``older_form`` puts
# the arguments back in their places. Such a command is made with ``cls=Command`` so that the
# hidden argument stays out of its usage line.
UserGiven = Annotated[str | None, typer.Option(  # "\\[": rich markup's escaped "["
    "--user", "-u", show_default=False, help="NAME or PLATFORM:ID \\[default: local]")]
UserNeeded = Annotated[str | None, typer.Option(
    "--user", "-u", show_default=False,
    help="NAME or PLATFORM:ID (required: this or, as before, the first argument)")]
OlderArg = Annotated[str | None, typer.Argument(hidden=True, show_default=False)]


class Command(TyperCommand):
    """A command whose usage line leaves out its hidden arguments."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:  # typer's own click Context
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if not getattr(param, "hidden", False):
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


def older_form(usage: str, user: str | None, values: list[str | None], older: str | None,
               *, required: int, default: str | None = LOCAL.external_id
               ) -> tuple[str, list[str]]:
    """The user and the other arguments of a command that takes the user as -u/--user or,
    in the older form, first (``usage`` is that form: ``card USER IMAGE``).

    ``values`` are the arguments as parsed in their places in the newer form (the first
    ``required`` of them required), ``older`` the hidden one after them that only the older
    form fills. Without -u, more than ``required`` arguments is the older form. A missing
    optional argument comes back as ""."""
    given = [v for v in (*values, older) if v is not None]
    if user is not None:
        if older is not None:
            fail(f"the user is given twice (-u {user} and {given[0]!r} first): "
                 "give it once, as -u NAME")
        rest = given
    elif len(given) > required:
        user, rest = given[0], given[1:]
    elif default is None:
        fail(f"which user? add -u NAME (or name it first: stationthis {usage})")
    else:
        user, rest = default, given
    return user, rest + [""] * (len(values) - len(rest))


# Arguments that ``older_form`` moves are taken as text, then checked as their type would
# have been, with the same errors.
def whole_number(value: str, name: str, low: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a valid integer.",
                                 param_hint=f"'{name}'") from None
    if number < low:
        raise typer.BadParameter(f"{value} is not in the range x>={low}.", param_hint=f"'{name}'")
    return number


def existing_file(value: str, name: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise typer.BadParameter(f"File {value!r} does not exist.", param_hint=f"'{name}'")
    if path.is_dir():
        raise typer.BadParameter(f"File {value!r} is a directory.", param_hint=f"'{name}'")
    return path


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit (2: the command was wrong; 1: it could not be done)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def get_settings() -> Settings:
    """The settings (environment and .env), with logging set up as they say."""
    try:
        loaded = load_settings()
    except SettingsError as exc:
        fail(str(exc))
    if loaded.log_format == "json":  # one JSON object a line, with request/job/user ids
        from stationthis.logs import configure

        configure("json", loaded.log_level)
    else:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("stationthis").setLevel(loaded.log_level)
    log_redaction.install()  # tokens in URLs (sign-in and share links, webhooks) never logged
    return loaded


def safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


def reason(exc: BaseException) -> str:
    """The root cause of a database error, in one line."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def fail_database(settings: Settings, exc: BaseException, code: int = 2) -> NoReturn:
    fail(f"cannot use the database at {safe_url(settings.db_url)}: {reason(exc)}", code)


def prepare_db(settings: Settings) -> None:
    """The embedded default (SQLite) migrates itself; PostgreSQL needs `stationthis db upgrade`
    (many processes must not race to migrate). Either way a database we cannot use stops us
    here with one line, not a traceback."""
    from stationthis.migrations import pending, upgrade

    try:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            upgrade(settings.db_url)
        elif pending(settings.db_url):
            fail("the database schema is not up to date: run `stationthis db upgrade`")
    except (OSError, SQLAlchemyError) as exc:
        fail_database(settings, exc)


def run(body: Callable[[App], Awaitable[T]], *, start: bool = False) -> T:
    """Build the app, run ``body`` (after starting the app's workers if ``start``), stop it.
    What goes wrong ends the command with one line."""
    loaded = get_settings()
    prepare_db(loaded)

    async def main() -> T:
        app = build(loaded)
        try:
            if start:
                await app.start(resume=False)
            return await body(app)
        finally:
            await app.stop()

    try:
        return asyncio.run(main())
    except SettingsError as exc:  # e.g. no secret for ComfyUI Deploy's webhook tokens
        fail(str(exc))
    except (OSError, SQLAlchemyError) as exc:
        fail_database(loaded, exc, 1)
    except StationError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        if isinstance(exc, InsufficientPoints):
            for alt in exc.details.get("alternatives", []):
                typer.echo(f"  fits: {alt.description} — {alt.points} points", err=True)
        raise typer.Exit(1) from None


def assignments(items: Iterable[str], where: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a dict (the value may be empty or hold more ``=``).
    ``where`` names the option or command in the error: ``--set``, ``tweak``."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"{where} takes KEY=VALUE, got {item!r}")
        values[key.strip()] = value
    return values


async def resolve_user(app: App, user: str) -> Account:
    """The account USER names (NAME or PLATFORM:ID). It must exist — a typo never makes a
    new user: an unknown one ends the command with the close names and how to create it —
    except the command line's own user ``local``, made on first use."""
    ident = Identity.parse(user)
    found = await app.users.find(ident)
    if found is not None:
        return found
    if ident == LOCAL:
        return await app.users.resolve(ident)
    close = [_shown(i) for i in await app.users.close_names(ident)]
    guess = f" (did you mean {' or '.join(close)}?)" if close else ""
    fail(f"no user {user!r}{guess}; create one with: stationthis users add {user}")


def _shown(ident: Identity) -> str:
    return ident.external_id if ident.platform == "web" else str(ident)


async def resolve_group(app: App, group: str) -> Account:
    """The group account GROUP names (PLATFORM:ID), made on first use."""
    return await app.users.resolve(Identity.parse(group), kind="group")


def echo_progress(app: App, owner: Account) -> None:
    """Print the percent of each of ``owner``'s running jobs on stderr as it moves."""

    async def show(event: Event) -> None:
        if isinstance(event, JobProgressed) and event.owner_id == owner.id:
            pct = event.progress.get("percent")
            if pct is not None:
                typer.echo(f"  {pct:3d}% {event.progress.get('message', '')}", err=True)

    app.bus.subscribe(show, JobProgressed)


def confirm(yes: bool, what: str) -> None:
    """Stop unless --yes was given for something that cannot be undone."""
    if not yes:
        fail(f"deleting {what} cannot be undone: add --yes to confirm")


def given(values: dict[str, Any]) -> dict[str, Any]:
    """Only the values that were given (not None)."""
    return {k: v for k, v in values.items() if v is not None}


CLI_REPLY = CliReply()  # the command line waits for the job itself


async def media_of(app: App, owner: Account, given_as: str, what: str) -> str:
    """A media id: the file stored for ``owner`` when ``given_as`` is a path, else itself."""
    path = Path(given_as)
    if not path.is_file():
        return given_as
    item = await app.media.ingest(owner.id, await asyncio.to_thread(path.read_bytes))
    typer.echo(f"{what}: {path} → media {item.id} ({item.width}×{item.height})")
    return item.id
