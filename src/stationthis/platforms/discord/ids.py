"""Component custom ids on Discord: the chat platforms' one encoding (``chat/codes.py``),
written plainly (Discord allows 100 characters)."""

from __future__ import annotations

from stationthis.platforms.chat.codes import pack as _pack
from stationthis.platforms.chat.codes import unpack as unpack

MAX_CHARS = 100


def pack(action: str, *parts: str) -> str:
    return _pack(action, *parts, limit=MAX_CHARS)
