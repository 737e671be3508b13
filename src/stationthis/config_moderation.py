"""Per-user limits and moderation (workflows/settings.py, core/moderation.py, core/review.py):
the tiers, the words and patterns refused in prompts, the classifier run on outputs. Mixed
into ``config.Settings``: the names stay flat (``STATIONTHIS_BLOCKED_WORDS``)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from stationthis.config_parts import TierLimits, default_tiers


class ModerationSettings(BaseModel):
    """What each tier may ask for, and what no one may."""

    tiers: dict[str, TierLimits] = Field(
        default_factory=default_tiers,
        description='JSON: {"tier name": {max_side, max_pixels, max_batch, max_steps, cfg, '
        'strength}}; "free" is required (new accounts and unknown tiers get it)',
    )
    blocked_words: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated words refused in prompts"
    )
    blocked_patterns: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="a regex, or a JSON list of regexes, refused in prompts"
    )
    output_check_tool: str | None = Field(
        None, description="a classifier run on every output before delivery (core/review.py): "
        "the path of a tool file (a ComfyUI classifier graph), or `builtin` (the preview "
        "engine's deterministic classifier); flagged outputs are held for an admin's review",
    )

    @field_validator("tiers")
    @classmethod
    def _free_tier(cls, tiers: dict[str, TierLimits]) -> dict[str, TierLimits]:
        if "free" not in tiers:
            raise ValueError('the tiers must include "free" (new accounts get it)')
        return tiers

    @field_validator("blocked_words", mode="before")
    @classmethod
    def _split_words(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [w.strip() for w in value.split(",") if w.strip()]
        return value

    @field_validator("blocked_patterns", mode="before")
    @classmethod
    def _split_patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    decoded = json.loads(text)
                except json.JSONDecodeError:
                    decoded = None  # a regex that begins with a character class
                if isinstance(decoded, list):
                    return decoded
            return [text] if text else []
        return value

    @field_validator("blocked_patterns")
    @classmethod
    def _compile_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"{pattern!r} is not a valid regular expression ({exc.msg})"
                ) from None
        return patterns
