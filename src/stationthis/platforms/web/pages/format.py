"""Small formatting helpers for the templates (Jinja2 filters) and the spending chart."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from stationthis.core.points import LedgerEntry


def when(value: datetime | None) -> str:
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | timedelta | None) -> str:
    if seconds is None:
        return "–"
    total = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
    total = max(0, round(total))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def filters() -> dict[str, Callable[..., str]]:
    return {"when": when, "duration": duration, "as_json": as_json}


# ----- points spent per day -------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    day: date
    points: int
    x: float
    y: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bar_width: float
    bars: list[Bar]
    top: int  # the largest day's points (the y scale)

    @property
    def total(self) -> int:
        return sum(b.points for b in self.bars)


def spent_per_day(entries: Iterable[LedgerEntry], today: date, days: int = 14) -> dict[date, int]:
    """Points charged per day for the last ``days`` days (captures only: a hold that was
    released cost nothing)."""
    first = today - timedelta(days=days - 1)
    spent = {first + timedelta(days=i): 0 for i in range(days)}
    for entry in entries:
        if entry.kind != "capture":
            continue
        day = entry.created_at.astimezone(UTC).date()
        if day in spent:
            spent[day] += entry.charged or 0  # a capture row moves nothing: it records the charge
    return spent


def chart(spent: dict[date, int], width: int = 560, height: int = 160) -> Chart:
    """Bar positions for an inline SVG: one bar per day, scaled to the largest day."""
    days = sorted(spent)
    top = max(spent.values(), default=0)
    slot = width / max(1, len(days))
    plot = height - 20  # room for the day labels below the bars
    bars = []
    for i, day in enumerate(days):
        points = spent[day]
        bar_height = (points / top) * (plot - 4) if top else 0.0
        bars.append(Bar(day, points, x=round(i * slot + slot * 0.15, 1),
                        y=round(plot - bar_height, 1), height=round(bar_height, 1),
                        label=day.strftime("%d")))
    return Chart(width, height, round(slot * 0.7, 1), bars, top)
