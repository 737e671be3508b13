"""Logging for operators: plain text or JSON lines, the request/job/user ids on every line,
and no secret in any line.

``configure(log_format, level)`` sets up the root logger once per process:

- ``text`` (default): ``LEVEL logger: message [request_id=… job_id=… user_id=…]``;
- ``json`` (``STATIONTHIS_LOG_FORMAT=json``): one JSON object per line with ``time``,
  ``level``, ``logger``, ``message``, ``request_id``, ``job_id``, ``user_id`` (when bound,
  see core/log_context.py) and ``exc_info`` for a traceback.

Every line goes through ``log_redaction`` (tokens in URLs) and ``redact_secrets`` (bare
Telegram bot tokens, API keys, ``Bearer …`` credentials, ``password=…``), after formatting,
so a secret inside an exception's traceback is redacted too.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from stationthis import log_redaction
from stationthis.core import log_context

FORMATS = ("text", "json")
_SECRETS = [
    # Telegram bot tokens (also outside a URL): 123456:ABC-DEF…
    re.compile(r"\b(\d{5,}:)([A-Za-z0-9_-]{30,})"),
    # our API keys: st_<prefix>_<secret>
    re.compile(r"\b(st_[0-9a-f]{8}_)([A-Za-z0-9_-]{20,})"),
    # Authorization headers and the like
    re.compile(r"((?:Bearer|Bot|Basic)\s+)([A-Za-z0-9._~+/=:-]{12,})", re.IGNORECASE),
    re.compile(r"((?:password|passwd|secret|token|api_key|apikey)[\"']?\s*[=:]\s*[\"']?)"
               r"([^\s\"'&,}]{4,})", re.IGNORECASE),
]


def redact_secrets(text: str) -> str:
    text = log_redaction.redact(text)
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + log_redaction.REDACTED, text)
    return text


class ContextFilter(logging.Filter):
    """Puts the bound request/job/user ids on every record (``record.request_id``…)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = log_context.current()
        for name in log_context.FIELDS:
            if not hasattr(record, name) or getattr(record, name) is None:
                setattr(record, name, ids.get(name))
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{name}={getattr(record, name)}" for name in log_context.FIELDS
                       if getattr(record, name, None))
        return redact_secrets(f"{line} [{ids}]" if ids else line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in log_context.FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        return redact_secrets(json.dumps(entry, ensure_ascii=False, default=str))


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in FORMATS:
        raise ValueError(f"unknown log format {log_format!r} (one of {', '.join(FORMATS)})")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def install(handler: logging.Handler, log_format: str = "text") -> logging.Handler:
    """Give ``handler`` the format, the ids and the redaction (idempotent)."""
    handler.setFormatter(formatter(log_format))
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())
    return handler


def configure(log_format: str = "text", level: str = "INFO") -> None:
    """Set up the root logger: one stderr handler in ``log_format``; StationThis's own
    loggers at ``level``, everything else at WARNING; uvicorn's access log the same way."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_stationthis", False):
            root.removeHandler(handler)
    handler = install(logging.StreamHandler(), log_format)
    handler._stationthis = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("stationthis").setLevel(level.upper())
    access = logging.getLogger("uvicorn.access")
    for h in access.handlers:
        install(h, log_format)
    log_redaction.install()
