"""``stationthis purchases list [--user NAME] [--status S]`` and ``stationthis purchases refund
ID``: the operator's view of the points users bought, and refunds (the money back through
Stripe or Telegram Stars, the points taken back — a negative purchased balance if they were
spent). ``purchase_lines`` is also what ``stationthis points history`` prints."""

from __future__ import annotations

from typing import Annotated

import typer

from .core.purchases import PaymentProvider, Purchase, money
from .core.users import Account, Identity
from .workflows.app import App

purchases_cli = typer.Typer(help="Points bought with Telegram Stars or a card.",
                            no_args_is_help=True)
PROVIDER_NAMES = {"telegram": "Telegram Stars", "stripe": "card (Stripe)"}


def purchase_line(p: Purchase) -> str:
    refunded = f" (−{p.refunded_points:,} refunded)" if p.refunded_points else ""
    return (f"{p.created_at:%Y-%m-%d %H:%M}  {p.id}  {p.status:<8}  {p.package}  "
            f"{p.points:,} points{refunded}  {money(p.amount, p.currency)}  "
            f"{PROVIDER_NAMES.get(p.channel, p.channel)}")


async def purchase_lines(app: App, account: Account, limit: int = 20) -> list[str]:
    """The account's purchases as lines (for ``points history``)."""
    return [purchase_line(p) for p in await app.purchases.history(account, limit)]


@purchases_cli.command("list")
def list_purchases(
    user: Annotated[str | None, typer.Option(help="only this user: NAME or PLATFORM:ID")] = None,
    status: Annotated[str | None, typer.Option(
        help="pending | paid | failed | refunded | disputed")] = None,
    limit: int = 50,
) -> None:
    """Purchases, newest first: when, id, status, package, points, amount paid, provider."""
    from .cli import _run

    async def body(app: App) -> None:
        account_id = None
        if user is not None:
            account_id = (await app.users.resolve(Identity.parse(user))).id
        found = await app.purchases.store.list_all(account_id, status=status, limit=limit)
        for p in found:
            typer.echo(purchase_line(p))
        if not found:
            typer.echo("no purchases")

    _run(body)


@purchases_cli.command("refund")
def refund(purchase_id: Annotated[str, typer.Argument(help="the purchase's id (purchases list)")],
           ) -> None:
    """Refund a paid purchase at its provider and take its points back."""
    from .cli import _run

    async def body(app: App) -> None:
        purchase = await app.purchases.store.get(purchase_id)
        provider = _provider(app, purchase.channel)
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

    _run(body)


def _provider(app: App, channel: str) -> PaymentProvider:
    settings = app.settings
    if channel == "stripe":
        if settings.stripe_secret_key is None:
            raise typer.BadParameter("STATIONTHIS_STRIPE_SECRET_KEY is not set")
        from .platforms.web.stripe_checkout import StripeCheckout

        return StripeCheckout(settings)
    if settings.telegram_token is None:
        raise typer.BadParameter("STATIONTHIS_TELEGRAM_TOKEN is not set")
    from .platforms.telegram.handlers.payments import TelegramStars

    return TelegramStars(settings)
