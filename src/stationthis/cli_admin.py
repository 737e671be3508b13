"""``stationthis users admin NAME [--remove]``: make an account an admin of the console
(``/admin``), or stop it being one. Registered on the ``users`` group by ``register``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from .core.errors import NotFound
from .core.users import Identity
from .workflows.app import App

Runner = Callable[[Callable[[App], Awaitable[Any]]], Any]


def register(users_cli: typer.Typer, run: Runner) -> None:
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
