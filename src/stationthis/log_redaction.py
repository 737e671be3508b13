"""Tokens that travel in URLs never reach the logs.

One-time sign-in links (``/auth/link/<token>``), share links (``/c/<token>``,
``/api/v1/links/<token>/…``, ``…/links/<token>/revoke``), webhook tokens
(``/api/v1/webhooks/comfydeploy/<token>``, Discord's ``/webhooks/<app>/<token>``), Bot API
URLs (``/bot<token>/…``) and secret-looking query values (``?token=…``) are replaced by
``[redacted]`` in every log record: the access log's request line and our own messages.
``install()`` puts the filter on ``uvicorn.access`` (which does not propagate) and on the
root logger's handlers (everything else); ``stationthis serve`` calls it when it sets up
logging."""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_SEGMENT = r"[^/?#\s\"']+"
_PATTERNS = [
    # a path segment that is a token, after the segments that announce it
    re.compile(rf"(/auth/link/|/c/|/links/|/webhooks/{_SEGMENT}/)({_SEGMENT})"),
    # Telegram Bot API: /bot<id>:<secret>/method and /file/bot<id>:<secret>/path
    re.compile(r"(/bot)(\d+:[A-Za-z0-9_-]+)"),
    # query values whose name says they are secret
    re.compile(r"([?&](?:token|key|api_key|access_token|code|secret|password|signature|sig)=)"
               r"([^&#\s\"']*)", re.IGNORECASE),
]


def redact(text: str) -> str:
    """``text`` with every token in a URL replaced by ``[redacted]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactTokens(logging.Filter):
    """Redacts the message and its string arguments in place (uvicorn's access formatter
    unpacks the arguments, so they keep their number and order)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
            if record.name != "uvicorn.access":  # e.g. an httpx URL object as an argument
                try:
                    text = record.getMessage()
                except Exception:  # a broken format is logging's to report, not ours
                    return True
                if redact(text) != text:
                    record.msg, record.args = redact(text), None
        elif isinstance(args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
        return True


def install() -> None:
    """Redact tokens in the access log and in everything the root logger's handlers write
    (idempotent; call after ``logging.basicConfig``)."""
    for target in [logging.getLogger("uvicorn.access"), *logging.getLogger().handlers]:
        if not any(isinstance(f, RedactTokens) for f in target.filters):
            target.addFilter(RedactTokens())
