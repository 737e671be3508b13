"""A purchase as one line: what ``stationthis purchases list`` and ``stationthis points
history`` print."""

from __future__ import annotations

from stationthis.core.purchases import Purchase, money
from stationthis.core.users import Account
from stationthis.workflows.app import App

PROVIDER_NAMES = {"telegram": "Telegram Stars", "stripe": "card (Stripe)"}


def purchase_line(p: Purchase) -> str:
    refunded = f" (−{p.refunded_points:,} refunded)" if p.refunded_points else ""
    return (f"{p.created_at:%Y-%m-%d %H:%M}  {p.id}  {p.status:<8}  {p.package}  "
            f"{p.points:,} points{refunded}  {money(p.amount, p.currency)}  "
            f"{PROVIDER_NAMES.get(p.channel, p.channel)}")


async def purchase_lines(app: App, account: Account, limit: int = 20) -> list[str]:
    """The account's purchases as lines (for ``points history``)."""
    return [purchase_line(p) for p in await app.purchases.history(account, limit)]
