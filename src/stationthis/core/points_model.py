"""The ledger's values (``core/points.py``): the allowance policy, a balance, a ledger row,
a hold, and how long until the allowance is full again."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

ALLOWANCE = "allowance"
CREDIT = "credit"
LATEST_SECONDS = 200_000_000_000  # ~ year 8300: well inside datetime and timedelta


@dataclass(frozen=True)
class AllowancePolicy:
    amount: int = 1000
    steps: int = 18
    interval_seconds: int = 900

    @property
    def step_amount(self) -> int:
        return math.ceil(self.amount / self.steps) if self.amount else 0


@dataclass(frozen=True)
class Balance:
    allowance: int
    credit: int
    allowance_max: int
    next_refill_at: datetime | None  # None when the allowance is full

    @property
    def total(self) -> int:
        return self.allowance + self.credit


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    kind: str
    bucket: str
    amount: int
    charged: int | None
    ref: str | None
    memo: str | None
    created_at: datetime


@dataclass(frozen=True)
class Hold:
    ref: str
    allowance: int
    credit: int

    @property
    def amount(self) -> int:
        return self.allowance + self.credit


def refill_eta(balance: Balance, policy: AllowancePolicy) -> timedelta | None:
    """How long until the allowance is full again (None when it is full, or so far away
    that no date can say it)."""
    if balance.next_refill_at is None:
        return None
    steps = math.ceil((balance.allowance_max - balance.allowance) / max(policy.step_amount, 1))
    first = balance.next_refill_at - datetime.now(balance.next_refill_at.tzinfo)
    seconds = first.total_seconds() + policy.interval_seconds * (max(steps, 1) - 1)
    return timedelta(seconds=seconds) if seconds <= LATEST_SECONDS else None


def moment_of(timestamp: int, now: datetime) -> datetime | None:
    """``timestamp`` as a datetime in ``now``'s zone; None when no datetime can hold it (an
    interval of centuries): the allowance then counts as not refilling."""
    if timestamp > LATEST_SECONDS:
        return None
    try:
        return datetime.fromtimestamp(timestamp, tz=now.tzinfo)
    except (OverflowError, OSError, ValueError):
        return None
