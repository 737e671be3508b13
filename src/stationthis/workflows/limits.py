"""Tier limits: what a user may ask for (size, batch, steps, cfg, strength).

An account's ``tier`` names an entry of ``Settings.tiers``; an unknown tier counts as
``free``. A request made in a group gets, for each limit, the more generous of the user's
tier and the group's tier: a group on a better tier lifts its members, a group never lowers
a user's own limits. The tool's own input bounds always apply as well; a range shown or
refused is the intersection of both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stationthis.config import TierLimits
from stationthis.core.errors import InvalidInput
from stationthis.core.tools import IMAGE_ONLY, Tool, ToolInput
from stationthis.core.users import Account

FALLBACK_TIER = "free"
LIMITED = ("width", "height", "batch", "steps", "cfg", "strength")
SIZE_KEYS = ("width", "height")


@dataclass(frozen=True)
class Bound:
    """The allowed range of one input; ``tier`` names the tier when its limit is the one that
    binds (else the tool's own bounds do)."""

    key: str
    low: float | None
    high: float | None
    tier: str | None = None

    def allows(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def refusal(self, value: Any = None) -> str:
        where = f" on the {self.tier} tier" if self.tier else ""
        got = f" (got {fmt(value)})" if value is not None else ""
        if self.low is None:
            return f"{self.key} must be at most {fmt(self.high)}{where}{got}"
        if self.high is None:
            return f"{self.key} must be at least {fmt(self.low)}{where}{got}"
        return f"{self.key} must be between {fmt(self.low)} and {fmt(self.high)}{where}{got}"

    def clamp(self, value: float) -> float:
        if self.low is not None:
            value = max(value, self.low)
        if self.high is not None:
            value = min(value, self.high)
        return value


def _tier_range(limits: TierLimits, key: str) -> tuple[float | None, float]:
    if key in SIZE_KEYS:
        return None, limits.max_side
    if key == "batch":
        return None, limits.max_batch
    if key == "steps":
        return None, limits.max_steps
    low, high = limits.cfg if key == "cfg" else limits.strength
    return low, high


class Limits:
    """The limits of one request (or one user's settings)."""

    def __init__(self, ranges: dict[str, tuple[float | None, float, str]],
                 max_pixels: tuple[int, str], tier: str) -> None:
        self._ranges = ranges
        self.max_pixels, self.pixels_tier = max_pixels
        self.tier = tier  # the user's own tier name

    @classmethod
    def of(cls, name: str, limits: TierLimits) -> Limits:
        ranges = {key: (*_tier_range(limits, key), name) for key in LIMITED}
        return cls(ranges, (limits.max_pixels, name), name)

    def lifted_by(self, other: Limits) -> Limits:
        """For each limit, the more generous of the two."""
        ranges: dict[str, tuple[float | None, float, str]] = {}
        for key, (low, high, tier) in self._ranges.items():
            o_low, o_high, o_tier = other._ranges[key]
            new_low = None if low is None or o_low is None else min(low, o_low)
            ranges[key] = (new_low, max(high, o_high), o_tier if o_high > high else tier)
        pixels = max((self.max_pixels, self.pixels_tier), (other.max_pixels, other.pixels_tier),
                     key=lambda p: p[0])
        return Limits(ranges, pixels, self.tier)

    def bound(self, key: str, spec: ToolInput | None) -> Bound:
        """The allowed range of ``key``: the tier's range within the tool input's bounds."""
        t_low, t_high, tier = self._ranges.get(key, (None, math.inf, ""))
        low = spec.min if spec is not None else None
        high = spec.max if spec is not None else None
        binds = False
        if t_low is not None and (low is None or t_low > low):
            low, binds = t_low, True
        if t_high != math.inf and (high is None or t_high < high):
            high, binds = t_high, True
        return Bound(key, low, high, tier if binds else None)

    def pixels_refusal(self, width: int, height: int) -> str:
        side = math.isqrt(self.max_pixels)
        return (f"width × height must be at most {self.max_pixels} pixels (e.g. {side}×{side}) "
                f"on the {self.pixels_tier} tier (got {width}×{height})")

    def enforce(self, tool: Tool, params: dict[str, Any], explicit: set[str]) -> dict[str, Any]:
        """``params`` within these limits. An explicit option beyond them is refused with the
        allowed range; a value from settings or a tool default is brought within them (the
        user's tier may have changed since they chose it)."""
        out = dict(params)
        sized = tool.category not in IMAGE_ONLY  # image-only tools take the input's size
        for key in LIMITED:
            if key not in out or (key in SIZE_KEYS and not sized):
                continue
            spec = tool.inputs.get(key)
            bound = self.bound(key, spec)
            value = out[key]
            if bound.allows(value):
                continue
            if key in explicit:
                raise InvalidInput(bound.refusal(value), input=key, min=bound.low,
                                   max=bound.high)
            clamped = bound.clamp(value)
            out[key] = int(clamped) if spec is not None and spec.type == "int" else clamped
        if sized and "width" in out and "height" in out:
            width, height = int(out["width"]), int(out["height"])
            if width * height > self.max_pixels:
                if explicit & set(SIZE_KEYS):
                    raise InvalidInput(self.pixels_refusal(width, height), input="width")
                scale = math.sqrt(self.max_pixels / (width * height))
                out["width"] = max(8, int(width * scale) // 8 * 8)
                out["height"] = max(8, int(height * scale) // 8 * 8)
        return out


class TierPolicy:
    """The configured tiers."""

    def __init__(self, tiers: Mapping[str, TierLimits]) -> None:
        self.tiers = dict(tiers)
        if FALLBACK_TIER not in self.tiers:
            self.tiers[FALLBACK_TIER] = TierLimits()

    def name(self, tier: str | None) -> str:
        return tier if tier in self.tiers else FALLBACK_TIER

    def limits(self, user: Account, group: Account | None = None) -> Limits:
        name = self.name(user.tier)
        own = Limits.of(name, self.tiers[name])
        if group is None or group.id == user.id:
            return own
        group_name = self.name(group.tier)
        return own.lifted_by(Limits.of(group_name, self.tiers[group_name]))


def fmt(value: Any) -> str:
    if value is None:
        return "∞"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
