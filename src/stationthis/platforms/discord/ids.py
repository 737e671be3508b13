"""Component custom ids: an action and ids (``r:<job id>``), within Discord's 100 characters.
They carry no state: everything else is read from the database when the button is pressed,
so a button keeps working after a restart."""

from __future__ import annotations

MAX_CHARS = 100


def pack(action: str, *parts: str) -> str:
    if any(":" in p for p in (action, *parts)):
        raise ValueError(f"custom id parts cannot contain ':': {(action, *parts)!r}")
    data = ":".join([action, *parts])
    if len(data) > MAX_CHARS:
        raise ValueError(f"custom id over {MAX_CHARS} characters: {data!r}")
    return data


def unpack(data: str) -> tuple[str, list[str]]:
    action, _, rest = data.partition(":")
    return action, rest.split(":") if rest else []
