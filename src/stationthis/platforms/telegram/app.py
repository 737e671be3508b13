"""The Telegram platform object: builds python-telegram-bot from the container and runs it in
long polling, or in webhook mode inside the web app (``router``: POST /telegram/webhook with
the secret-token header checked). It has the shape the web app hosts: ``router``,
``start()``, ``stop()``; ``stationthis serve`` builds it when a token is set."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application

from stationthis.config import Settings
from stationthis.core.ratelimit import PaceLimits
from stationthis.platforms.chat.limits import ChatLimits
from stationthis.platforms.telegram.handlers import DESCRIPTIONS, register
from stationthis.platforms.telegram.handlers.common import Station
from stationthis.platforms.telegram.notifier import TelegramNotifier
from stationthis.workflows.app import App

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An edited command must not run (and charge) again; pre_checkout_query: Stars payments.
UPDATES = ["message", "callback_query", "pre_checkout_query"]
MAX_BODY = 1_000_000
UPDATE_MEMORY = 24 * 3600  # a retried update_id is refused this long (Telegram retries ~1 day)
GROUP_PER_MINUTE = 20  # Telegram's limits on a bot: messages a minute to one group …
BOT_PER_SECOND = 30  # … and messages a second in all


def webhook_secret(settings: Settings) -> str:
    """The secret Telegram sends back with every webhook call (1–256 of [A-Za-z0-9_-])."""
    return settings.derived_secret("telegram-webhook").hex()


def resolve_mode(settings: Settings) -> str:
    if settings.telegram_mode != "auto":
        return settings.telegram_mode
    return "webhook" if settings.public_url else "polling"


class TelegramPlatform:
    platform = "telegram"

    def __init__(self, app: App, settings: Settings | None = None, *,
                 poll_interval: float = 0.0, poll_timeout: int = 10,
                 receive: bool = True) -> None:
        """``receive=False`` (a worker): only send — notifications of the jobs it runs;
        the web nodes take the updates."""
        settings = settings or app.settings
        if settings.telegram_token is None:
            raise ValueError("STATIONTHIS_TELEGRAM_TOKEN is not set")
        _quiet_http_logs(settings.telegram_token.get_secret_value())
        self.app = app
        self.settings = settings
        self.mode = resolve_mode(settings) if receive else "send"
        self.receive = receive
        self.secret = webhook_secret(settings)
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        api = settings.telegram_api_url.rstrip("/")
        builder = (Application.builder()
                   .token(settings.telegram_token.get_secret_value())
                   .base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
                   .concurrent_updates(16))
        if self.mode != "polling":
            builder = builder.updater(None)
        self.application = builder.build()
        self.bot_id = settings.telegram_token.get_secret_value().split(":", 1)[0]
        self.station = Station(app, ChatLimits(
            app.limits, f"telegram:{self.bot_id}", burst=settings.telegram_rate_burst,
            per_minute=settings.telegram_rate_per_minute,
            flood_burst=settings.telegram_flood_burst))
        register(self.application, self.station)
        self.application.add_error_handler(_log_error)
        self.notifier = TelegramNotifier(
            app, edit_interval=settings.telegram_edit_interval,
            pacer=app.limits.pacer(f"telegram:{self.bot_id}", PaceLimits(
                settings.telegram_edit_interval, GROUP_PER_MINUTE, BOT_PER_SECOND)))
        app.notifications.register(self.notifier)  # before the app starts: restarts deliver
        self.station.notifier = self.notifier
        self._router = self._make_router() if self.mode == "webhook" else None
        self._running = False

    @property
    def router(self) -> APIRouter | None:
        return self._router

    async def start(self) -> None:
        await self.application.initialize()  # getMe
        bot = self.application.bot
        self.station.username = bot.username or ""
        self.station.trigger = self.settings.telegram_trigger or f"@{bot.username}"
        await self.application.start()
        self.notifier.attach(bot)
        self._running = True
        if not self.receive:
            log.info("telegram bot @%s: sending only (this process takes no updates)",
                     bot.username)
            return
        try:
            await bot.set_my_commands([BotCommand(k, v) for k, v in DESCRIPTIONS.items()])
        except TelegramError as exc:
            log.warning("could not set the bot's command list: %s", exc)
        if self.mode == "polling":
            assert self.application.updater is not None
            await self.application.updater.start_polling(
                poll_interval=self.poll_interval, timeout=self.poll_timeout,
                allowed_updates=UPDATES)
            log.info("telegram bot @%s: long polling", bot.username)
        elif self.settings.public_url:
            url = self.settings.public_url.rstrip("/") + WEBHOOK_PATH
            await bot.set_webhook(url, secret_token=self.secret, allowed_updates=UPDATES)
            log.info("telegram bot @%s: webhook at %s", bot.username, url)
        else:
            log.warning("telegram webhook mode without STATIONTHIS_PUBLIC_URL: set the "
                        "webhook yourself to <public url>%s", WEBHOOK_PATH)

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        await self.notifier.drain(5.0)  # results being delivered go out first
        self.notifier.detach()
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        await self.application.stop()
        await self.application.shutdown()

    async def __aenter__(self) -> TelegramPlatform:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _make_router(self) -> APIRouter:
        router = APIRouter()

        @router.post(WEBHOOK_PATH, include_in_schema=False)
        async def telegram_webhook(request: Request) -> Response:
            given = request.headers.get(SECRET_HEADER)
            if given is None:
                return Response(status_code=401)
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                return Response(status_code=403)
            body = await request.body()
            if len(body) > MAX_BODY:
                return Response(status_code=413)
            try:
                data: Any = json.loads(body)
                update = Update.de_json(data, self.application.bot)
            except (ValueError, TypeError, KeyError):
                return Response(status_code=400)
            if update is None or not self._running:
                return Response(status_code=503)
            if not await self._first_delivery(update.update_id):
                return Response(status_code=200)  # a retry another node (or we) took already
            await self.application.update_queue.put(update)
            return Response(status_code=200)

        return router

    async def _first_delivery(self, update_id: int) -> bool:
        """Telegram retries an update it thinks was not received, and with several web nodes
        the retry may reach another one: each update_id is processed once (shared in Redis,
        else in the database)."""
        key = f"tg-update:{self.bot_id}:{update_id}"
        if await self.app.limits.replay.first_time(key, UPDATE_MEMORY):
            return True
        log.info("telegram update %s delivered again: ignored", update_id)
        return False


async def _log_error(update: object, context: Any) -> None:
    error = context.error
    log.warning("telegram update failed: %s: %s", type(error).__name__, error)


class _Redact(logging.Filter):
    """Replaces the bot token in log records (PTB logs its API URLs at DEBUG)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.secret in text:
            record.msg, record.args = text.replace(self.secret, "<token>"), None
        return True


def _quiet_http_logs(token: str) -> None:
    """httpx logs every request URL at INFO, and Bot API URLs contain the token; PTB logs
    its URLs at DEBUG. Silence the one, redact the token in all of them."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    redact = _Redact(token)
    names = [n for n in list(logging.root.manager.loggerDict)
             if n.split(".")[0] in ("telegram", "httpx", "httpcore")]
    for name in {"telegram", "httpx", "httpcore", *names}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Redact) and f.secret == token for f in logger.filters):
            logger.addFilter(redact)
