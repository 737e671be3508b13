"""A user short of points: by how much, and the ways forward — what fits now (the cheaper
variants the core computed), when the free allowance has refilled enough, and how to get
points (the Buy page)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stationthis.core.db import utcnow
from stationthis.core.errors import InsufficientPoints, StationError
from stationthis.workflows.make_image import Alternative
from stationthis.workflows.services import Services

GET_POINTS_URL = "/buy"


@dataclass(frozen=True)
class Option:
    description: str
    options: dict[str, Any]
    points: int


@dataclass(frozen=True)
class Short:
    points: int
    available: int
    alternatives: list[Option] = field(default_factory=list)
    refill_step: int = 0  # points the allowance gains per refill
    refill_every: int = 0  # seconds between refills
    next_refill_in: int | None = None  # seconds; None when the allowance is full
    enough_in: int | None = None  # seconds until the balance covers the price by refills

    @property
    def missing(self) -> int:
        return max(0, self.points - self.available)

    @property
    def sentence(self) -> str:
        return (f"This costs {self.points} points; you have {self.available} — "
                f"{self.missing} short.")


def short_of(exc: StationError) -> InsufficientPoints | None:
    return exc if isinstance(exc, InsufficientPoints) else None


async def explain(app: Services, account_id: str, exc: InsufficientPoints) -> Short:
    """The way forward for a refused request (the error's details: quote, available,
    alternatives)."""
    details = exc.details
    points = int(details.get("quote") or 0)
    available = int(details.get("available") or 0)
    alternatives = [_option(a) for a in details.get("alternatives") or []]
    return await _with_refill(app, account_id, points, available, alternatives)


async def _with_refill(app: Services, account_id: str, points: int, available: int,
                       alternatives: list[Option]) -> Short:
    policy = app.account.policy
    balance = await app.account.ledger.balance(account_id)
    now = utcnow()
    next_in = _seconds(balance.next_refill_at, now)
    missing = max(0, points - available)
    enough_in = None
    room = balance.allowance_max - balance.allowance  # the most refills can still add
    if missing and next_in is not None and policy.step_amount and missing <= room:
        steps = math.ceil(missing / policy.step_amount)
        enough_in = next_in + policy.interval_seconds * (steps - 1)
    return Short(points, available, alternatives, policy.step_amount, policy.interval_seconds,
                 next_in, enough_in)


def _seconds(moment: datetime | None, now: datetime) -> int | None:
    if moment is None:
        return None
    return max(0, round((moment - now).total_seconds()))


def _option(raw: Any) -> Option:
    if isinstance(raw, Alternative):
        return Option(raw.description, dict(raw.options), raw.points)
    if isinstance(raw, dict):
        return Option(str(raw.get("description", "")), dict(raw.get("options") or {}),
                      int(raw.get("points") or 0))
    return Option(str(raw), {}, 0)
