"""Attachments: checked by type and size from what Discord tells us before anything is
downloaded (so a wrong file is refused at once), then downloaded and put through the hardened
loader like every image that enters."""

from __future__ import annotations

from typing import Any

import httpx

from stationthis.core.errors import InvalidInput
from stationthis.core.users import Account
from stationthis.platforms.discord.handlers.common import IMAGE_TYPES, MAX_ATTACHMENTS, Interaction


def refusal(ix: Interaction, max_bytes: int) -> str | None:
    """Why the interaction's attachments cannot be used, or None."""
    items = ix.attachments()
    if len(items) > MAX_ATTACHMENTS:
        return f"At most {MAX_ATTACHMENTS} images at once; you sent {len(items)}."
    for item in items:
        problem = _problem(item, max_bytes)
        if problem:
            return problem
    return None


def _problem(item: dict[str, Any], max_bytes: int) -> str | None:
    name = str(item.get("filename") or "that file")
    kind = str(item.get("content_type") or "").split(";")[0].strip().lower()
    if kind not in IMAGE_TYPES:
        return (f"{name} is not an image I can use ({kind or 'unknown type'}): "
                "attach a PNG, JPEG or WEBP.")
    size = item.get("size")
    if isinstance(size, int) and size > max_bytes:
        return (f"{name} is too large ({size / 1_048_576:.1f} MB); the limit is "
                f"{max_bytes / 1_048_576:.0f} MB.")
    return None


async def download(ix: Interaction, item: dict[str, Any]) -> bytes:
    max_bytes = ix.app.media.max_bytes
    problem = _problem(item, max_bytes)
    if problem:
        raise InvalidInput(problem)
    url = str(item.get("url") or "")
    if not url.startswith(("https://", "http://")):
        raise InvalidInput("that attachment has no address to download it from")
    try:
        async with ix.station.downloader().stream("GET", url) as response:
            if response.status_code != 200:
                raise InvalidInput("the attachment could not be downloaded; send it again")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidInput("that image is larger than the upload limit")
                chunks.append(chunk)
    except httpx.HTTPError:
        raise InvalidInput("the attachment could not be downloaded; send it again") from None
    return b"".join(chunks)


async def ingest(ix: Interaction, user: Account, item: dict[str, Any]) -> str:
    """The media id of an attached image, stored for ``user``."""
    data = await download(ix, item)
    stored = await ix.app.media.ingest(user.id, data, kind="upload")
    return stored.id
