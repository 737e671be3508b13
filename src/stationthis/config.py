"""All settings, read once at start-up from the environment (``STATIONTHIS_*``) and ``.env``."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .install_secret import FILE_NAME, NEW_SECRET_HINT, SecretError, load_or_create, weakness


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


def _default_tiers() -> dict[str, TierLimits]:
    return {
        "free": TierLimits(),
        "pro": TierLimits(max_side=4096, max_pixels=4096 * 4096, max_batch=8, max_steps=150),
    }


class Settings(BaseSettings):
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

    engine: str = Field(
        "auto", pattern="^(auto|preview|comfyui|comfydeploy|diffusers)$",
        description="generation backend; auto = comfyui when COMFYUI_URLS is set, "
        "comfydeploy when COMFYDEPLOY_API_KEY is set, else preview",
    )
    public_url: str | None = Field(
        None, description="this service's public base URL, for webhooks (https://…)"
    )
    diffusers_model_dir: Path | None = Field(
        None, description="a diffusers Stable Diffusion folder, for engine=diffusers"
    )
    comfydeploy_url: str = "https://api.comfydeploy.com"
    comfydeploy_api_key: SecretStr | None = None
    comfydeploy_deployments: dict[str, str] = Field(
        default_factory=dict, description='JSON: {"tool name": "deployment id"}'
    )
    comfydeploy_poll_seconds: float = Field(5.0, gt=0)
    comfyui_urls: str = Field("", description="comma-separated ComfyUI server URLs")
    comfyui_checkpoint: str | None = Field(None, description="default checkpoint file")
    comfyui_upscaler: str | None = Field(None, description="default upscale model file")
    comfyui_silence_seconds: float = Field(10.0, gt=0, description="check history after this")
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

    # Per-user limits and moderation (workflows/settings.py, core/moderation.py).
    tiers: dict[str, TierLimits] = Field(
        default_factory=_default_tiers,
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

    # Telegram bot (platforms/telegram; docs/decisions/0012).
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

    # Discord over HTTP interactions (platforms/discord; docs/decisions/0016).
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

    @property
    def discord_enabled(self) -> bool:
        return bool(self.discord_application_id and self.discord_public_key
                    and self.discord_bot_token)

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

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        for url in self.comfyui_url_list:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"comfyui_urls: {url!r} is not an http(s) URL")
        if self.engine == "diffusers" and self.diffusers_model_dir is None:
            raise ValueError("engine is diffusers but STATIONTHIS_DIFFUSERS_MODEL_DIR is empty")
        if self.engine == "comfyui" and not self.comfyui_url_list:
            raise ValueError("engine is comfyui but STATIONTHIS_COMFYUI_URLS is empty")
        if self.engine_name == "comfydeploy" and not (
            self.comfydeploy_api_key and self.comfydeploy_deployments
        ):
            raise ValueError(
                "engine is comfydeploy: set STATIONTHIS_COMFYDEPLOY_API_KEY and "
                "STATIONTHIS_COMFYDEPLOY_DEPLOYMENTS"
            )
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

    @property
    def comfyui_url_list(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.comfyui_urls.split(",") if u.strip()]

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
    def engine_name(self) -> str:
        if self.engine != "auto":
            return self.engine
        if self.comfyui_url_list:
            return "comfyui"
        return "comfydeploy" if self.comfydeploy_api_key else "preview"

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
