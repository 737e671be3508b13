"""Inline-button data on Telegram: the chat platforms' one encoding (``chat/codes.py``),
written compactly to fit Telegram's 64 bytes (two of our ids fit)."""

from __future__ import annotations

from stationthis.platforms.chat.codes import pack as _pack
from stationthis.platforms.chat.codes import unpack as unpack

MAX_BYTES = 64


def pack(action: str, *parts: str) -> str:
    return _pack(action, *parts, compact=True, limit=MAX_BYTES)
