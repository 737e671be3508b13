"""``stationthis users …``: bans, tiers, admins of the console, what an account holds."""

from __future__ import annotations

from typing import Annotated

import typer

from ..core.errors import NotFound
from ..core.users import Identity
from ..workflows.app import App
from .common import UserArg, resolve_user, run

users_cli = typer.Typer(help="Users: bans, tiers, what an account holds.", no_args_is_help=True)


@users_cli.command("show")
def users_show(user: UserArg) -> None:
    """A user's identities, tier, ban and balance."""

    async def body(app: App) -> None:
        view = await app.admin.show(await resolve_user(app, user))
        b = view.balance
        typer.echo(f"{user}: {view.account.kind} {view.account.name!r} · {view.tier} tier · "
                   + ("BANNED" if view.account.banned else "not banned"))
        typer.echo("identities: " + ", ".join(str(i) for i in view.identities))
        typer.echo(f"balance: {b.total} points (allowance {b.allowance}/{b.allowance_max}, "
                   f"credit {b.credit})")

    run(body)


@users_cli.command("ban")
def users_ban(user: UserArg) -> None:
    """Block a user from generating (quotes and jobs are refused)."""

    async def body(app: App) -> None:
        await app.admin.ban(await resolve_user(app, user))
        typer.echo(f"{user} is banned: generation is refused")

    run(body)


@users_cli.command("unban")
def users_unban(user: UserArg) -> None:
    """Lift a ban."""

    async def body(app: App) -> None:
        await app.admin.unban(await resolve_user(app, user))
        typer.echo(f"{user} is no longer banned")

    run(body)


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

    run(body)


@users_cli.command("admin")
def users_admin(
    user: Annotated[str, typer.Argument(help="NAME (a web account) or PLATFORM:ID")],
    remove: Annotated[bool, typer.Option("--remove", help="take the admin role away")] = False,
) -> None:
    """Let an account use the admin console (/admin), or with --remove no longer."""

    async def body(app: App) -> None:
        ident = Identity.parse(user)
        assert app.operators is not None
        found = [a for a in await app.operators.accounts.search(str(ident))
                 if ident in await app.users.identities_of(a.id)]
        if not found:
            raise NotFound(f"no account {user} (sign up on the web first, or use "
                           "PLATFORM:ID)")
        await app.operators.set_admin(None, found[0], not remove)
        typer.echo(f"{user} is {'no longer ' if remove else ''}an admin"
                   + ("" if remove else ": the console is at /admin"))

    run(body)
