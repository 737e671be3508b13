"""``stationthis points …``: balances, grants and the ledger. The user is -u/--user; the older
form, the user as the first argument (``points grant USER AMOUNT``), still works."""

from __future__ import annotations

from typing import Annotated

import typer

from stationthis.cli.common import (
    Command,
    OlderArg,
    UserGiven,
    UserNeeded,
    older_form,
    resolve_user,
    run,
    whole_number,
)
from stationthis.cli.receipts import purchase_lines
from stationthis.workflows.app import App

points_cli = typer.Typer(help="Points: balances, grants and the ledger.", no_args_is_help=True)


@points_cli.command("grant", cls=Command)
def points_grant(
    amount_given: Annotated[str, typer.Argument(metavar="AMOUNT", help="points, at least 1")],
    older: OlderArg = None,
    user: UserNeeded = None,
    memo: str = "granted by an operator",
    key: Annotated[str | None, typer.Option(help="idempotency key (default: random)")] = None,
) -> None:
    """Give a user points (purchased credit).

    Older form: stationthis points grant USER AMOUNT."""
    import uuid

    user, (amount_given,) = older_form("points grant USER AMOUNT", user, [amount_given], older,
                                       required=1, default=None)
    amount: int = whole_number(amount_given, "AMOUNT", 1)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        done = await app.account.grant(account, amount, key=key or f"cli:{uuid.uuid4().hex}",
                                       memo=memo)
        balance = await app.ledger.balance(account.id)
        typer.echo(("granted" if done else "already granted (same key)")
                   + f" · balance {balance.total}")

    run(body)


@points_cli.command("balance", cls=Command)
def points_balance(older: OlderArg = None, user: UserGiven = None) -> None:
    """A user's balance: free allowance and purchased credit.

    Older form: stationthis points balance USER."""
    user, _ = older_form("points balance USER", user, [], older, required=0)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        view = await app.account.balance(account)
        b = view.balance
        typer.echo(f"{user}: {b.total} points "
                   f"(allowance {b.allowance}/{b.allowance_max}, credit {b.credit})")
        if view.full_in is not None:
            minutes = int(view.full_in.total_seconds() // 60)
            typer.echo(f"allowance full again in {minutes // 60} h {minutes % 60} min")

    run(body)


@points_cli.command("history", cls=Command)
def points_history(older: OlderArg = None, user: UserGiven = None, limit: int = 20) -> None:
    """The newest rows of a user's ledger.

    Older form: stationthis points history USER."""
    user, _ = older_form("points history USER", user, [], older, required=0)

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        for e in await app.account.history(account, limit):
            charged = f" charged {e.charged}" if e.charged is not None else ""
            typer.echo(f"{e.created_at:%Y-%m-%d %H:%M:%S}  {e.kind:<9} {e.bucket:<9} "
                       f"{e.amount:+6d}{charged}  {e.ref or ''}  {e.memo or ''}".rstrip())
        bought = await purchase_lines(app, account)  # the receipts
        for line in ["purchases:", *bought] if bought else []:
            typer.echo(line)

    run(body)
