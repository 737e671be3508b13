"""Button data, one encoding for every chat platform: ``action:id[:id]`` — an action code
(``actions.py``) and ids, never state; everything else is read from the database when the
button is pressed, so a button keeps working after a restart.

Where space is short (Telegram: 64 bytes) the writer is *compact*: a 32-hex id (ours) travels
as 22 base64url characters and any other part is marked with ``~``. ``unpack`` reads both
forms, so a button written either way (and every button on an old message) decodes.
"""

from __future__ import annotations

import base64
import binascii
import re

_HEX = re.compile(r"[0-9a-f]{32}")


def pack(action: str, *parts: str, compact: bool = False, limit: int = 100) -> str:
    """``action:part:…`` within ``limit`` (bytes); ``compact`` shortens our ids."""
    if any(":" in p for p in (action, *parts)):
        raise ValueError(f"button data parts cannot contain ':': {(action, *parts)!r}")
    data = ":".join([action, *((_short(p) for p in parts) if compact else parts)])
    if len(data.encode()) > limit:
        raise ValueError(f"button data over {limit} bytes: {data!r}")
    return data


def unpack(data: str) -> tuple[str, list[str]]:
    """``(action, parts)``; malformed parts come back as they are (and are then not found)."""
    action, _, rest = data.partition(":")
    return action, [_long(p) for p in rest.split(":")] if rest else []


def _short(part: str) -> str:
    if _HEX.fullmatch(part):
        return base64.urlsafe_b64encode(bytes.fromhex(part)).decode().rstrip("=")
    if part.startswith("~"):
        raise ValueError(f"cannot pack {part!r}")
    return f"~{part}"


def _long(part: str) -> str:
    if part.startswith("~"):
        return part[1:]
    if len(part) != 22:  # a compact id is exactly 22 characters; anything else is as sent
        return part
    try:
        raw = base64.urlsafe_b64decode(part + "==")
    except (binascii.Error, ValueError):
        return part
    return raw.hex() if len(raw) == 16 else part
