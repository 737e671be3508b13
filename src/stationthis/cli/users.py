"""``stationthis users …``: adding users and setting their web password, bans, tiers,
admins of the console, what an account holds. The user is -u/--user or, as in the older form,
the first argument (``users tier USER TIER``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from stationthis.cli.common import (
    Command,
    OlderArg,
    UserNeeded,
    fail,
    older_form,
    resolve_user,
    run,
)
from stationthis.core.users import Identity
from stationthis.workflows.app import App
from stationthis.workflows.auth import USERNAME

# `users add` and `users password` name the user they make or change: NAME, or -u NAME.
NameArg = Annotated[str | None, typer.Argument(
    metavar="NAME", show_default=False, help="NAME (a web user) or PLATFORM:ID; or -u NAME")]
users_cli = typer.Typer(help="Users: add, web password, bans, tiers, what an account holds.",
                        no_args_is_help=True)


@users_cli.command("add")
def users_add(
    named: NameArg = None,
    user: UserNeeded = None,
    platform: Annotated[str, typer.Option(help="the platform of a bare NAME")] = "web",
) -> None:
    """Create a user (commands that name a user never create one).

    A web user signs in on the web once `stationthis users password NAME` has set a
    password."""
    name, _ = older_form("users add NAME", user, [], named, required=0, default=None)
    ident = _identity(name, platform)

    async def body(app: App) -> None:
        found = await app.users.find(ident)
        if found is not None:
            typer.echo(f"{name} already exists ({ident})")
            return
        account = await app.users.resolve(ident)
        balance = await app.ledger.balance(account.id)
        typer.echo(f"created {name} ({ident}) · balance {balance.total} points")
        if ident.platform == "web":
            typer.echo(f"{ident.external_id} can sign in on the web after: "
                       f"stationthis users password {ident.external_id}")

    run(body)


@users_cli.command("password")
def users_password(
    named: NameArg = None,
    user: UserNeeded = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="read the password from the first line of stdin")] = False,
) -> None:
    """Set a web user's password: they sign in on the web with it.

    Asked twice, hidden (or the first line of stdin with --password-stdin); every session the
    user had ends."""
    name, _ = older_form("users password NAME", user, [], named, required=0, default=None)
    ident = _identity(name, "web")
    if ident.platform != "web":
        fail(f"only web users have a password; {name} is a {ident.platform} user")

    async def body(app: App) -> None:
        await resolve_user(app, name)  # an unknown name: the close ones and how to add it
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        else:
            fail("no terminal to ask for the password: pipe it in with --password-stdin")
        await app.auth.set_password_for(ident.external_id, password)
        typer.echo(f"{ident.external_id} can sign in on the web now")

    run(body)


def _identity(name: str, platform: str) -> Identity:
    """NAME (on ``platform``) or PLATFORM:ID; a web name is one that can sign in."""
    try:
        ident = Identity.parse(name, default_platform=platform)
    except Exception as exc:  # InvalidInput: not NAME or PLATFORM:ID
        fail(getattr(exc, "message", str(exc)))
    if ident.platform == "web" and not USERNAME.match(ident.external_id):
        fail(f"{ident.external_id!r} cannot sign in on the web: a web name is 3–32 lower-case "
             "letters, digits, '.', '_' or '-', starting with a letter or digit")
    return ident


@users_cli.command("show", cls=Command)
def users_show(older: OlderArg = None, user: UserNeeded = None) -> None:
    """A user's identities, tier, ban and balance.

    Older form: stationthis users show USER."""
    user, _ = older_form("users show USER", user, [], older, required=0, default=None)

    async def body(app: App) -> None:
        view = await app.admin.show(await resolve_user(app, user))
        b = view.balance
        typer.echo(f"{user}: {view.account.kind} {view.account.name!r} · {view.tier} tier · "
                   + ("BANNED" if view.account.banned else "not banned"))
        typer.echo("identities: " + ", ".join(str(i) for i in view.identities))
        typer.echo(f"balance: {b.total} points (allowance {b.allowance}/{b.allowance_max}, "
                   f"credit {b.credit})")

    run(body)


@users_cli.command("ban", cls=Command)
def users_ban(older: OlderArg = None, user: UserNeeded = None) -> None:
    """Block a user from generating (quotes and jobs are refused).

    Older form: stationthis users ban USER."""
    user, _ = older_form("users ban USER", user, [], older, required=0, default=None)

    async def body(app: App) -> None:
        await app.admin.ban(await resolve_user(app, user))
        typer.echo(f"{user} is banned: generation is refused")

    run(body)


@users_cli.command("unban", cls=Command)
def users_unban(older: OlderArg = None, user: UserNeeded = None) -> None:
    """Lift a ban.

    Older form: stationthis users unban USER."""
    user, _ = older_form("users unban USER", user, [], older, required=0, default=None)

    async def body(app: App) -> None:
        await app.admin.unban(await resolve_user(app, user))
        typer.echo(f"{user} is no longer banned")

    run(body)


@users_cli.command("tier", cls=Command)
def users_tier(
    tier: Annotated[str, typer.Argument(help="a tier of STATIONTHIS_TIERS")],
    older: OlderArg = None,
    user: UserNeeded = None,
    group: Annotated[bool, typer.Option("--group", help="the user is a group (PLATFORM:ID)")
                     ] = False,
) -> None:
    """Put a user on a tier: it decides their limits. A group's tier lifts its members' limits
    for requests made in the group.

    Older form: stationthis users tier USER TIER."""
    user, (tier,) = older_form("users tier USER TIER", user, [tier], older, required=1,
                               default=None)

    async def body(app: App) -> None:
        account = (await app.users.resolve(Identity.parse(user), kind="group") if group
                   else await resolve_user(app, user))
        account = await app.admin.set_tier(account, tier)
        typer.echo(f"{user} is on the {account.tier} tier")

    run(body)


@users_cli.command("admin", cls=Command)
def users_admin(
    older: OlderArg = None,
    user: UserNeeded = None,
    remove: Annotated[bool, typer.Option("--remove", help="take the admin role away")] = False,
) -> None:
    """Let an account use the admin console (/admin), or with --remove no longer.

    Older form: stationthis users admin USER."""
    user, _ = older_form("users admin USER", user, [], older, required=0, default=None)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        assert app.operators is not None
        await app.operators.set_admin(None, account, not remove)
        typer.echo(f"{user} is {'no longer ' if remove else ''}an admin"
                   + ("" if remove else ": the console is at /admin"))

    run(body)
