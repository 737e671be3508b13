"""The settings' nested groups (``STATIONTHIS_COSTS__BASE``, ``STATIONTHIS_WEB__…``), the tier
limits and the packages for sale: plain models that ``config.Settings`` holds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CostSettings(BaseModel):
    """Default price formula for generation tools (a tool file may override any of it).

    points = base + ceil(width*height / 512²) * per_tile + max(0, steps - free_steps) * per_step,
    multiplied by the batch size. The figures are the original system's static formula.
    """

    model_config = ConfigDict(extra="forbid")

    base: int = Field(10, ge=0)
    per_tile: int = Field(5, ge=0)
    per_step: float = Field(0.5, ge=0)
    free_steps: int = Field(20, ge=0)
    training_base: int = Field(1000, ge=0)
    training_per_image: int = Field(50, ge=0)
    training_per_100_steps: int = Field(20, ge=0)


class AllowanceSettings(BaseModel):
    """A free allowance that regenerates in equal steps (original: 18 steps, every 15 minutes)."""

    model_config = ConfigDict(extra="forbid")

    amount: int = Field(1000, ge=0, description="full allowance, in points")
    steps: int = Field(18, ge=1)
    interval_seconds: int = Field(900, ge=1)


class TierLimits(BaseModel):
    """What one tier of users may ask for (the original's figures are the free tier's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_side: int = Field(2048, ge=64, description="largest width or height")
    max_pixels: int = Field(2048 * 2048, ge=64 * 64, description="largest width × height")
    max_batch: int = Field(6, ge=1)
    max_steps: int = Field(48, ge=1)
    cfg: tuple[float, float] = (0.0, 30.0)
    strength: tuple[float, float] = (0.0, 1.0)

    @model_validator(mode="after")
    def _ranges(self) -> TierLimits:
        for name in ("cfg", "strength"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: the low end {low} is above the high end {high}")
        return self


class WebSettings(BaseModel):
    """Web accounts: sessions, one-time sign-in links, sign-in backoff (platforms/web)."""

    model_config = ConfigDict(extra="forbid")

    session_days: float = Field(30, gt=0, description="a browser session lasts this long")
    login_link_minutes: float = Field(10, gt=0, description="a one-time sign-in link expires")
    secure_cookies: bool | None = Field(
        None, description="Secure cookies; default: when PUBLIC_URL is https"
    )
    max_json_bytes: int = Field(1024 * 1024, ge=1024, description="largest non-upload body")
    signin_free_failures: int = Field(
        3, ge=1, description="failed sign-ins per name and address before the backoff starts"
    )
    signups_per_hour: int = Field(
        5, ge=1, description="new accounts tried per client address an hour (then 429)"
    )


class PackageSettings(BaseModel):
    """A package of points for sale (``STATIONTHIS_PACKAGES``, a JSON list of these).

    ``stars`` sells it on Telegram (Telegram Stars), ``price`` (in the currency's minor units,
    e.g. cents) sells it on the web by card (Stripe Checkout); a package may have both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 _.+-]+$")
    points: int = Field(ge=1, le=100_000_000)
    bonus: int = Field(0, ge=0, le=100_000_000, description="extra points on top")
    stars: int | None = Field(None, ge=1, le=100_000, description="price in Telegram Stars")
    price: int | None = Field(None, ge=1, description="card price in minor units (cents)")
    currency: str = Field("usd", pattern=r"^[A-Za-z]{3}$")

    @property
    def total_points(self) -> int:
        return self.points + self.bonus


def default_tiers() -> dict[str, TierLimits]:
    return {
        "free": TierLimits(),
        "pro": TierLimits(max_side=4096, max_pixels=4096 * 4096, max_batch=8, max_steps=150),
    }
