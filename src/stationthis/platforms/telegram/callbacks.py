"""Inline-button data: an action and ids, within Telegram's 64 bytes, never state.

A 32-hex id (ours) is packed as 22 base64url characters; any other id travels as it is.
"""

from __future__ import annotations

import base64
import binascii
import re

MAX_BYTES = 64
_HEX = re.compile(r"[0-9a-f]{32}")


def pack(action: str, *parts: str) -> str:
    data = ":".join([action, *(_short(p) for p in parts)])
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


def unpack(data: str) -> tuple[str, list[str]]:
    """``(action, parts)``; malformed parts come back as they are (and are then not found)."""
    action, _, rest = data.partition(":")
    return action, [_long(p) for p in rest.split(":")] if rest else []


def _short(part: str) -> str:
    if _HEX.fullmatch(part):
        return base64.urlsafe_b64encode(bytes.fromhex(part)).decode().rstrip("=")
    if ":" in part or part.startswith("~"):
        raise ValueError(f"cannot pack {part!r}")
    return f"~{part}"


def _long(part: str) -> str:
    if part.startswith("~"):
        return part[1:]
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return part
    return raw.hex() if len(raw) == 16 else part
