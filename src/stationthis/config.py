"""All settings, read once at start-up from the environment (``STATIONTHIS_*``) and ``.env``."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from stationthis.config_chat import DiscordSettings, TelegramSettings
from stationthis.config_engines import EngineSettings
from stationthis.config_moderation import ModerationSettings
from stationthis.config_parts import (
    AllowanceSettings,
    CostSettings,
    PackageSettings,
    TierLimits,
    WebSettings,
)
from stationthis.install_secret import (
    FILE_NAME,
    NEW_SECRET_HINT,
    SecretError,
    load_or_create,
    weakness,
)

__all__ = [
    "AllowanceSettings", "CostSettings", "DiscordSettings", "EngineSettings",
    "ModerationSettings", "PackageSettings", "Settings", "SettingsError", "TelegramSettings",
    "TierLimits", "WebSettings", "load_settings",
]


class Settings(TelegramSettings, DiscordSettings, EngineSettings, ModerationSettings,
               BaseSettings):
    """Every setting. The groups that belong to one part live beside it and are mixed in
    (the chat platforms: ``config_chat``; the engines: ``config_engines``; limits and
    moderation: ``config_moderation``); nested groups (``STATIONTHIS_WEB__…``) are
    ``config_parts``. Every name stays flat: ``STATIONTHIS_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="STATIONTHIS_",
        env_nested_delimiter="__",
        env_file=".env",
        dotenv_filtering="match_prefix",  # other programs' lines in .env are not ours
        extra="forbid",
    )

    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default: SQLite file in the data dir"
    )
    db_pool_size: int = Field(
        30, ge=1, le=1000,
        description="PostgreSQL: connections this process keeps open and never exceeds "
        "(every process of an install together must stay under the server's "
        "max_connections, 100 by default); SQLite ignores it",
    )
    redis_url: str | None = Field(
        None, description="Redis for signals between processes (optional)"
    )
    tools_dir: Path | None = Field(None, description="extra tool JSON files")
    media_dir: Path | None = Field(None, description="default: <data_dir>/media")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = Field("INFO", pattern="^(?i:DEBUG|INFO|WARNING|ERROR)$")

    public_url: str | None = Field(
        None, description="this service's public base URL, for webhooks (https://…)"
    )
    max_queued_per_user: int = Field(3, ge=1, le=1000)
    max_running: int = Field(10, ge=1, le=100_000, description="jobs one worker runs at once")
    worker_lease_seconds: float = Field(
        30.0, ge=1, description="a worker's hold on a job; another resumes it after this"
    )
    worker_heartbeat_seconds: float = Field(
        5.0, gt=0, description="how often a worker renews its leases (and sees cancels)"
    )
    worker_poll_seconds: float = Field(1.0, gt=0, description="claim poll without signals")
    worker_grace_seconds: float = Field(
        10.0, ge=0, description="on stop, running jobs may finish this long, then go back"
    )
    job_timeout_seconds: int = Field(1800, ge=1)
    max_image_pixels: int = Field(4096 * 4096, ge=64 * 64)
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    thumbnail_size: int = Field(256, ge=16, le=1024)
    new_user_grant: int = Field(0, ge=0, description="points granted once to every new user")
    dataset_max_images: int = Field(20, ge=1, le=1000, description="image slots per dataset")
    training_resolution: int = Field(512, ge=64, le=2048, description="dataset images, px")
    cook_max_supply: int = Field(1000, ge=1, le=100_000, description="pieces per cook run")
    notify_progress_interval: float = Field(
        1.0, ge=0, description="seconds between progress messages per job (0 = every update)"
    )

    costs: CostSettings = CostSettings()
    allowance: AllowanceSettings = AllowanceSettings()
    web: WebSettings = WebSettings()

    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for /metrics (Prometheus); unset: /metrics is off (404)"
    )
    log_format: str = Field("text", pattern="^(text|json)$",
                            description="text, or json: one JSON object per line")

    secret_key: SecretStr | None = Field(
        None, description="signs webhook tokens and CSRF tokens (32+ random characters); "
        "default: a random per-install secret kept in <data_dir>/secret_key; required with "
        "PostgreSQL (every process must share it)",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated IPs/CIDRs of reverse proxies whose "
        "X-Forwarded-For/-Proto are believed; default: none (the connecting address counts)",
    )
    _secret: str | None = PrivateAttr(None)
    _secret_source: str = PrivateAttr("")

    # Buying points (issue 18): packages, and the card checkout through Stripe.
    packages: list[PackageSettings] = Field(
        default_factory=list,
        description='JSON list: [{"name", "points", "bonus"?, "stars"?, "price"? (minor units), '
        '"currency"?}]; empty: nothing is for sale',
    )
    stripe_secret_key: SecretStr | None = Field(
        None, description="Stripe secret key (sk_live_… / sk_test_…): card checkout on the web"
    )
    stripe_webhook_secret: SecretStr | None = Field(
        None, description="the signing secret (whsec_…) of the endpoint "
        "<PUBLIC_URL>/api/v1/webhooks/stripe",
    )
    stripe_api_url: str = Field(
        "https://api.stripe.com", description="Stripe API base URL (tests: a local fake)"
    )

    @field_validator("packages")
    @classmethod
    def _unique_packages(cls, packages: list[PackageSettings]) -> list[PackageSettings]:
        names = [p.name.lower() for p in packages]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two packages are named {name!r}")
        return packages

    @property
    def stripe_enabled(self) -> bool:
        """Card checkout works: a secret key, a webhook secret and a public URL to return to."""
        return bool(self.stripe_secret_key and self.stripe_webhook_secret and self.public_url)

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            reason = weakness(value.get_secret_value())
            if reason:
                raise ValueError(f"the secret key {reason}: set a random value, e.g. the "
                                 f"output of `{NEW_SECRET_HINT}`")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            if proxy == "*":
                continue
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or CIDR range "
                                 "(e.g. 10.0.0.5 or 10.0.0.0/8)") from None
        return proxies

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        if self.worker_heartbeat_seconds * 2 > self.worker_lease_seconds:
            raise ValueError(
                "worker_heartbeat_seconds must be at most half of worker_lease_seconds"
            )
        if self.database_url is None:
            db_file = (self.data_dir / "stationthis.db").resolve()
            self.database_url = f"sqlite+aiosqlite:///{db_file}"
        if self.media_dir is None:
            self.media_dir = self.data_dir / "media"
        return self

    @property
    def db_url(self) -> str:
        assert self.database_url is not None
        return self.database_url

    def resolve_secret(self) -> str:
        """Settle the secret every derived key comes from, once: ``secret_key`` when set,
        else the per-install file in the data directory (created on first use). Returns one
        line saying which, never the secret. Raises SettingsError when there is none to use."""
        if self._secret is None:
            if self.secret_key is not None:
                self._secret = self.secret_key.get_secret_value()
                self._secret_source = "using STATIONTHIS_SECRET_KEY"
            elif not self.is_sqlite:
                raise SettingsError(
                    "STATIONTHIS_SECRET_KEY is not set: with PostgreSQL every process must "
                    "share one secret (a per-install file would differ between machines); "
                    f"set it to a random value, e.g. the output of `{NEW_SECRET_HINT}`"
                )
            else:
                try:
                    secret, created = load_or_create(self.data_dir)
                except SecretError as exc:
                    raise SettingsError(str(exc)) from None
                path = self.data_dir / FILE_NAME
                self._secret = secret
                self._secret_source = (f"generated a new per-install secret in {path}"
                                       if created else f"using the per-install secret in {path}")
        return self._secret_source

    def derived_secret(self, purpose: str) -> bytes:
        """A key for one purpose derived from the resolved secret (never the raw secret)."""
        import hashlib
        import hmac

        self.resolve_secret()
        assert self._secret is not None
        return hmac.new(self._secret.encode(), purpose.encode(), hashlib.sha256).digest()

    @property
    def cookies_secure(self) -> bool:
        """Whether cookies get the Secure flag: WEB__SECURE_COOKIES, else an https PUBLIC_URL."""
        if self.web.secure_cookies is not None:
            return self.web.secure_cookies
        return self.public_is_https

    @property
    def public_is_https(self) -> bool:
        return (self.public_url or "").lower().startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")


class SettingsError(Exception):
    """Invalid settings: the message is one line naming the setting."""


# Variables with our prefix that are not settings (used by the test suite).
_NOT_SETTINGS = {"STATIONTHIS_REQUIRE_SERVICES", "STATIONTHIS_COMFYUI_HOME", "STATIONTHIS_CHROMIUM"}


def load_settings(**overrides: object) -> Settings:
    unknown = sorted(
        name for name in os.environ
        if name.upper().startswith("STATIONTHIS_") and name.upper() not in _NOT_SETTINGS
        and name.upper().removeprefix("STATIONTHIS_").split("__")[0].lower()
        not in Settings.model_fields
    )
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]} (a typo?)")
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        settings.log_level = settings.log_level.upper()
        return settings
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "STATIONTHIS_" + "__".join(str(p) for p in first["loc"]).upper()
        secret = Settings.model_fields.get(str(first["loc"][0]) if first["loc"] else "")
        if secret is not None and "SecretStr" in str(secret.annotation):
            raise SettingsError(f"invalid setting {name}: {first['msg']}") from None  # no echo
        raise SettingsError(
            f"invalid setting {name}: {first['msg']} (got {first.get('input')!r})"
        ) from None
