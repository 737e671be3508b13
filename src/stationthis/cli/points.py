"""``stationthis points …``: balances, grants and the ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from stationthis.cli.common import UserArg, resolve_user, run
from stationthis.cli.receipts import purchase_lines
from stationthis.workflows.app import App

points_cli = typer.Typer(help="Points: balances, grants and the ledger.", no_args_is_help=True)


@points_cli.command("grant")
def points_grant(
    user: UserArg,
    amount: Annotated[int, typer.Argument(min=1)],
    memo: str = "granted by an operator",
    key: Annotated[str | None, typer.Option(help="idempotency key (default: random)")] = None,
) -> None:
    """Give a user points (purchased credit)."""
    import uuid

    async def body(app: App) -> None:
        account = await resolve_user(app, user)
        done = await app.account.grant(account, amount, key=key or f"cli:{uuid.uuid4().hex}",
                                       memo=memo)
        balance = await app.ledger.balance(account.id)
        typer.echo(("granted" if done else "already granted (same key)")
                   + f" · balance {balance.total}")

    run(body)


@points_cli.command("balance")
def points_balance(user: UserArg) -> None:
    """A user's balance: free allowance and purchased credit."""

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


@points_cli.command("history")
def points_history(
    user: UserArg, limit: int = 20
) -> None:
    """The newest rows of a user's ledger."""

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
