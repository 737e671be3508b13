"""Update delivery of the fake Telegram Bot API: ``getUpdates`` long polling and webhooks.

Polling: ``getUpdates(offset, limit, timeout, allowed_updates)`` returns queued updates,
waiting up to ``timeout`` seconds and returning as soon as one arrives; an update is confirmed
(dropped) by a later call with a higher ``offset``. A second concurrent ``getUpdates`` ends the
first with 409, and so does a webhook being set. Webhook: each update is POSTed as JSON, one at
a time, with ``X-Telegram-Bot-Api-Secret-Token``; a non-2xx answer is recorded
(``getWebhookInfo.last_error_message``) and retried up to ``webhook_max_attempts`` times.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from tests.support.fake_telegram_objects import JSON, ApiError, Upload, bad, coerce_params, now
from tests.support.fake_telegram_users import UserPlay

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CONFLICT_WEBHOOK = ("Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first")
CONFLICT_POLLING = ("Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running")


@dataclass
class Delivery:
    """One POST of an update to the webhook and what our server answered."""

    update_id: int
    url: str
    status: int | None  # None: no HTTP answer (connection failed, timed out)
    error: str | None
    secret_token: str | None
    time: float


@dataclass
class _Webhook:
    url: str = ""
    secret_token: str | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class Described:
    result: Any
    description: str

class UpdateDelivery(UserPlay):
    """getUpdates, setWebhook, deleteWebhook, getWebhookInfo and the webhook sender."""

    def __init__(self, bot: JSON) -> None:
        super().__init__(bot)
        self.webhook_retry_delay = 0.2
        self.webhook_max_attempts = 5
        self.webhook_timeout = 10.0
        self.webhook_host_override: str | None = None  # deliver to this scheme://host:port
        self.deliveries: list[Delivery] = []
        self._poll_generation = 0
        self._webhook = _Webhook()
        self._webhook_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closing = False

    async def _dispatch(self, method: str, params: JSON, uploads: dict[str, Upload], *,
                        source: str = "http", refused: ApiError | None = None) -> JSON:
        raise NotImplementedError

    async def wait_for_deliveries(self, count: int = 1, timeout: float = 10.0) -> list[Delivery]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.deliveries) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"waited {timeout}s for {count} webhook deliveries, saw "
                                   f"{len(self.deliveries)}")
            await self._wait_changed(remaining)
        return list(self.deliveries)

    async def api_getUpdates(self, p: JSON) -> list[JSON]:
        if self._webhook.url:
            raise ApiError(409, CONFLICT_WEBHOOK)
        offset = int(p.get("offset") or 0)
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        timeout = max(float(p.get("timeout") or 0), 0.0)
        if "allowed_updates" in p:
            self._allowed_updates = set(p["allowed_updates"] or []) or None
        if offset > 0:
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        elif offset < 0:
            self._queue = self._queue[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._queue and not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await self._wait_changed(remaining)
            if generation != self._poll_generation:
                raise ApiError(409, CONFLICT_POLLING)
            if self._webhook.url:
                raise ApiError(409, CONFLICT_WEBHOOK)
        return copy.deepcopy(self._queue[:limit])

    async def api_setWebhook(self, p: JSON) -> Described:
        url = str(p.get("url") or "")
        if not url:
            return await self.api_deleteWebhook(p)
        parts = urlsplit(url)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise bad("bad webhook: An HTTPS URL must be provided for webhook")
        if not loopback and parts.port not in (None, 80, 88, 443, 8443):
            raise bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad("secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self._queue.clear()
        if "allowed_updates" in p:
            self._allowed_updates = set(p["allowed_updates"] or []) or None
        same = (self._webhook.url, self._webhook.secret_token) == (url, secret)
        self.set_webhook_target(url, secret, max_connections=int(p.get("max_connections") or 40))
        return Described(True, "Webhook is already set" if same else "Webhook was set")

    async def api_deleteWebhook(self, p: JSON) -> Described:
        if p.get("drop_pending_updates"):
            self._queue.clear()
        was_set = bool(self._webhook.url)
        self._webhook = _Webhook()
        self._notify()
        return Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    async def api_getWebhookInfo(self, p: JSON) -> JSON:
        info: JSON = {"url": self._webhook.url, "has_custom_certificate": False,
                      "pending_update_count": len(self._queue)}
        if self._webhook.url:
            info["max_connections"] = self._webhook.max_connections
            info["ip_address"] = "127.0.0.1"
            if self._allowed_updates:
                info["allowed_updates"] = sorted(self._allowed_updates)
            if self._webhook.last_error_date is not None:
                info["last_error_date"] = self._webhook.last_error_date
                info["last_error_message"] = self._webhook.last_error_message
        return info

    def set_webhook_target(self, url: str, secret_token: str | None = None, *,
                           max_connections: int = 40) -> None:
        """Deliver updates by POSTing them to ``url`` (as if setWebhook had been called)."""
        self._webhook = _Webhook(url, secret_token, max_connections)
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())
        self._notify()

    async def _stop_webhook_worker(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _delivery_url(self, url: str) -> str:
        if not self.webhook_host_override:
            return url
        target, parts = urlsplit(self.webhook_host_override), urlsplit(url)
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))

    async def _webhook_loop(self) -> None:
        attempts: dict[int, int] = {}
        while not self._closing and self._webhook.url:
            if not self._queue:
                await self._wait_changed(5.0)
                continue
            update, hook = self._queue[0], self._webhook
            status, error, reply = await self._post(self._delivery_url(hook.url), update,
                                                    hook.secret_token)
            self.deliveries.append(Delivery(update["update_id"], self._delivery_url(hook.url),
                                            status, error, hook.secret_token, time.time()))
            delivered = status is not None and 200 <= status < 300
            if not delivered:
                hook.last_error_date, hook.last_error_message = now(), error
                attempts[update["update_id"]] = attempts.get(update["update_id"], 0) + 1
            if (delivered or attempts[update["update_id"]] >= self.webhook_max_attempts) and \
                    update in self._queue:
                self._queue.remove(update)
            self._notify()
            if delivered and isinstance(reply, dict) and isinstance(reply.get("method"), str):
                params = {k: v for k, v in reply.items() if k != "method"}
                with contextlib.suppress(ApiError):
                    coerce_params(params)
                    await self._dispatch(reply["method"], params, {}, source="webhook_reply")
            elif not delivered:
                await asyncio.sleep(self.webhook_retry_delay)

    async def _post(self, url: str, update: JSON, secret: str | None) -> tuple[
            int | None, str | None, Any]:
        headers = {"Content-Type": "application/json"} | ({SECRET_HEADER: secret} if secret
                                                          else {})
        assert self._session is not None
        try:
            async with self._session.post(
                    url, data=json.dumps(update), headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)) as response:
                body = await response.read()
                if not 200 <= response.status < 300:
                    return (response.status, f"Wrong response from the webhook: "
                            f"{response.status} {response.reason}", None)
        except (aiohttp.ClientError, TimeoutError) as error:
            return None, f"Connection failed: {type(error).__name__}: {error}", None
        try:
            return response.status, None, json.loads(body) if body else None
        except ValueError:
            return response.status, None, None
