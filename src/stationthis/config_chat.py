"""The chat platforms' settings: the Telegram bot (platforms/telegram; docs/decisions/0012)
and Discord over HTTP interactions (platforms/discord; docs/decisions/0016). Mixed into
``config.Settings``: the names stay flat (``STATIONTHIS_TELEGRAM_TOKEN``)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, SecretStr, field_validator


class TelegramSettings(BaseModel):
    """The Telegram bot: on when ``telegram_token`` is set."""

    telegram_token: SecretStr | None = Field(None, description="bot token from @BotFather")
    telegram_api_url: str = Field(
        "https://api.telegram.org", description="Bot API base URL (a local Bot API server)"
    )
    telegram_mode: str = Field(
        "auto", pattern="^(auto|polling|webhook)$",
        description="auto = webhook when PUBLIC_URL is set, else long polling",
    )
    telegram_trigger: str | None = Field(
        None, description="prefix of a plain prompt in groups (default: @<bot username>)"
    )
    telegram_rate_burst: int = Field(
        12, ge=1, description="jobs a user may start at once (an uploaded image counts ¼)"
    )
    telegram_rate_per_minute: float = Field(
        30.0, gt=0, description="sustained job starts per user and minute"
    )
    telegram_flood_burst: int = Field(
        60, ge=1, description="messages and button presses a user may send at once "
        "(refilled over a minute): only a flood meets it"
    )
    telegram_edit_interval: float = Field(
        1.0, ge=0, description="seconds between progress edits in one chat"
    )


class DiscordSettings(BaseModel):
    """Discord over HTTP interactions: on when the application id, key and bot token are set."""

    discord_application_id: str | None = Field(None, description="the application's id")
    discord_public_key: str | None = Field(
        None, description="the application's Ed25519 public key (hex), to verify interactions"
    )
    discord_bot_token: SecretStr | None = Field(None, description="the bot's token")
    discord_api_url: str = Field(
        "https://discord.com/api/v10", description="Discord REST API base URL"
    )
    discord_rate_burst: int = Field(
        12, ge=1, description="jobs a Discord user may start at once (an image added counts ¼)"
    )
    discord_rate_per_minute: float = Field(
        30.0, gt=0, description="sustained job starts per Discord user and minute"
    )
    discord_flood_burst: int = Field(
        60, ge=1, description="commands and button presses a Discord user may send at once "
        "(refilled over a minute): only a flood meets it"
    )
    discord_edit_interval: float = Field(
        1.0, ge=0, description="seconds between progress edits of one Discord response"
    )

    @field_validator("discord_public_key")
    @classmethod
    def _discord_key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
            raise ValueError("the Discord public key is 64 hex characters (Developer Portal)")
        return value.strip() if value is not None else None

    @property
    def discord_enabled(self) -> bool:
        return bool(self.discord_application_id and self.discord_public_key
                    and self.discord_bot_token)
