"""``stationthis purchases list [--user NAME] [--status S]`` and ``stationthis purchases refund
ID``: the operator's view of the points users bought, and refunds (the money back through
Stripe or Telegram Stars, the points taken back — a negative purchased balance if they were
spent)."""

from __future__ import annotations

from typing import Annotated

import typer

from stationthis.cli.common import resolve_user, run
from stationthis.cli.receipts import PROVIDER_NAMES, purchase_line
from stationthis.core.errors import InvalidInput
from stationthis.core.purchases import money
from stationthis.workflows.app import App

purchases_cli = typer.Typer(help="Points bought with Telegram Stars or a card.",
                            no_args_is_help=True)


@purchases_cli.command("list")
def list_purchases(
    user: Annotated[str | None, typer.Option(
        "--user", "-u", help="only this user: NAME or PLATFORM:ID")] = None,
    status: Annotated[str | None, typer.Option(
        help="pending | paid | failed | refunded | disputed")] = None,
    limit: int = 50,
) -> None:
    """Purchases, newest first: when, id, status, package, points, amount paid, provider."""

    async def body(app: App) -> None:
        account_id = None
        if user is not None:
            account_id = (await resolve_user(app, user)).id
        found = await app.purchases.list_all(account_id, status=status, limit=limit)
        for p in found:
            typer.echo(purchase_line(p))
        if not found:
            typer.echo("no purchases")

    run(body)


@purchases_cli.command("refund")
def refund(purchase_id: Annotated[str, typer.Argument(help="the purchase's id (purchases list)")],
           ) -> None:
    """Refund a paid purchase at its provider and take its points back."""

    async def body(app: App) -> None:
        purchase = await app.purchases.get(purchase_id)
        if app.payment_provider is None:
            raise typer.BadParameter("refunds are not set up")
        try:
            provider = app.payment_provider(purchase.channel)
        except InvalidInput as exc:
            raise typer.BadParameter(exc.message) from None
        try:
            done = await app.purchases.refund(purchase.id, provider)
        finally:
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
        typer.echo(f"refunded {money(purchase.amount, purchase.currency)} "
                   f"({PROVIDER_NAMES.get(purchase.channel, purchase.channel)}); "
                   f"{done.total:,} points taken back; purchased balance now "
                   f"{done.credit_after:,}")

    run(body)


