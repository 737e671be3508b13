"""Per-user settings (defaults for generation) and the status of unfinished jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from stationthis.core.users import Account
from stationthis.platforms.web.auth import current_account, station
from stationthis.platforms.web.errors import documented
from stationthis.workflows.settings import SettingsView

router = APIRouter(prefix="/api/v1", tags=["settings"])
_AUTH = (401, 403)


class SettingOut(BaseModel):
    value: Any = Field(description="the effective value (null: nothing sets it)")
    source: str = Field(description="user | group | default")
    low: float | None
    high: float | None
    tier: str | None
    choices: list[str] | None


class SettingsOut(BaseModel):
    tier: str
    tool: str = Field(description="the default text-to-image tool")
    max_pixels: int
    items: dict[str, SettingOut]


class SettingValue(BaseModel):
    value: Any = Field(description="e.g. 30 for steps, \"1024x768\" for size, null to reset")


class ActiveJobOut(BaseModel):
    job_id: str
    tool: str
    state: str
    position: int | None = Field(description="place in the queue, 1 = next")
    percent: int
    eta_seconds: float | None
    quote: int
    created_at: datetime
    started_at: datetime | None
    cancel_requested: bool


def settings_out(view: SettingsView) -> SettingsOut:
    return SettingsOut(tier=view.tier, tool=view.tool, max_pixels=view.max_pixels, items={
        k: SettingOut(value=v.value, source=v.source, low=v.low, high=v.high, tier=v.tier,
                      choices=list(v.choices) if v.choices else None)
        for k, v in view.items.items()})


@router.get("/settings", response_model=SettingsOut, responses=documented(*_AUTH))
async def show(request: Request, user: Account = Depends(current_account)) -> SettingsOut:
    """Each setting's value, where it comes from and its allowed range on the user's tier."""
    return settings_out(await station(request).user_settings.show(user))


@router.put("/settings/{key}", response_model=SettingsOut,
            responses=documented(*_AUTH, 400, 422))
async def set_one(key: str, body: SettingValue, request: Request,
                  user: Account = Depends(current_account)) -> SettingsOut:
    """Set one setting: width, height, size, steps, cfg, strength, seed, batch, negative,
    checkpoint or tool. Out-of-range values are refused with the allowed range."""
    return settings_out(await station(request).user_settings.set(user, key, body.value))


@router.delete("/settings/{key}", response_model=SettingsOut,
               responses=documented(*_AUTH, 400))
async def reset_one(key: str, request: Request,
                    user: Account = Depends(current_account)) -> SettingsOut:
    return settings_out(await station(request).user_settings.reset(user, key))


@router.delete("/settings", response_model=SettingsOut, responses=documented(*_AUTH))
async def reset_all(request: Request, user: Account = Depends(current_account)) -> SettingsOut:
    return settings_out(await station(request).user_settings.reset(user))


@router.get("/status", response_model=list[ActiveJobOut], tags=["jobs"],
            responses=documented(*_AUTH))
async def status(request: Request, user: Account = Depends(current_account)
                 ) -> list[ActiveJobOut]:
    """The user's unfinished jobs with their place in the queue and an ETA."""
    return [ActiveJobOut(**vars(a)) for a in await station(request).status.active(user)]
