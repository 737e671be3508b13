"""The LoRA files the generation servers have, as operators present them.

The servers say which files exist (ComfyUI's ``LoraLoader`` list; the preview engine has a
small fixed set); this catalog keeps what an operator said about a file: a display name,
trigger words, a preview image URL, a price factor and whether it is hidden. A file nobody
described is listed by its file name without the extension, at the normal price.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from stationthis.core.db import Database, utcnow
from stationthis.core.errors import InvalidInput
from stationthis.core.schema import server_loras

MIN_FACTOR, MAX_FACTOR = 0.0, 20.0
_NAME = re.compile(r"^[\w][\w .+-]{0,99}$")
_TRIGGER = re.compile(r"^[\w][\w.+-]{0,49}$")


@dataclass(frozen=True)
class ServerLora:
    file_name: str  # the server's name for the file (``lora_name``), maybe in a subfolder
    name: str  # the display name, else the file name without folder and extension
    triggers: tuple[str, ...] = ()
    preview: str | None = None  # an https URL
    price_factor: float = 1.0
    hidden: bool = False
    described: bool = False  # an operator set something for it
    available: bool = True  # the servers list it now

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "file_name": self.file_name, "triggers": list(self.triggers),
                "preview": self.preview, "price_factor": self.price_factor,
                "hidden": self.hidden, "available": self.available}


def plain_name(file_name: str) -> str:
    """``styles/Ink_v2.safetensors`` → ``Ink_v2``: what a file is called when nobody named it."""
    base = posixpath.basename(file_name.replace("\\", "/"))
    stem, dot, ext = base.rpartition(".")
    return stem if dot and ext.lower() in ("safetensors", "ckpt", "pt", "bin", "pth") else base


class ServerLoraCatalog:
    """What operators set about server LoRA files (table ``server_loras``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def entries(self) -> dict[str, ServerLora]:
        async with self.db.read() as conn:
            rows = (await conn.execute(select(server_loras))).all()
        return {row.file_name: _entry(row) for row in rows}

    async def set(
        self, file_name: str, *, name: str | None = None, triggers: list[str] | None = None,
        preview: str | None = None, price_factor: float | None = None,
        hidden: bool | None = None, by: str | None = None,
    ) -> ServerLora:
        """Set what is given (None: unchanged; ``name=""``/``preview=""``: cleared).
        InvalidInput for a bad value or a display name another file has."""
        values: dict[str, Any] = {"updated_at": utcnow(), "updated_by": by}
        if name is not None:
            name = " ".join(name.split())
            if name and not _NAME.match(name):
                raise InvalidInput("a LoRA's name is 1-100 letters, digits, spaces or . + - _")
            values["display_name"] = name or None
        if triggers is not None:
            words = [t.strip() for t in triggers if t.strip()]
            bad = [t for t in words if not _TRIGGER.match(t)]
            if bad:
                raise InvalidInput(f"a trigger word is one word (got {bad[0]!r})")
            values["triggers"] = list(dict.fromkeys(words))
        if preview is not None:
            preview = preview.strip()
            if preview and not preview.startswith("https://"):
                raise InvalidInput("the preview must be an https:// image URL")
            values["preview"] = preview or None
        if price_factor is not None:
            if not MIN_FACTOR <= price_factor <= MAX_FACTOR:
                raise InvalidInput(
                    f"the price factor must be between {MIN_FACTOR:g} and {MAX_FACTOR:g}")
            values["price_percent"] = round(price_factor * 100)
        if hidden is not None:
            values["hidden"] = hidden
        async with self.db.write() as conn:
            if values.get("display_name"):
                taken = (await conn.execute(select(server_loras.c.file_name).where(
                    func.lower(server_loras.c.display_name) == values["display_name"].lower(),
                    server_loras.c.file_name != file_name,
                ))).scalar()
                if taken is not None:
                    raise InvalidInput(
                        f"the name {values['display_name']!r} is already the LoRA {taken!r}")
            found = (await conn.execute(select(server_loras.c.file_name).where(
                server_loras.c.file_name == file_name))).first()
            if found is None:
                await conn.execute(insert(server_loras).values(
                    {"file_name": file_name, "triggers": [], "price_percent": 100,
                     "hidden": False, **values}
                ))
            else:
                await conn.execute(update(server_loras).where(
                    server_loras.c.file_name == file_name).values(**values))
        return (await self.entries())[file_name]

    async def forget(self, file_name: str) -> bool:
        """Drop what was set about a file; True if there was something."""
        async with self.db.write() as conn:
            done = await conn.execute(
                delete(server_loras).where(server_loras.c.file_name == file_name))
        return bool(done.rowcount)


def _entry(row: Any) -> ServerLora:
    return ServerLora(
        file_name=row.file_name, name=row.display_name or plain_name(row.file_name),
        triggers=tuple(row.triggers or ()), preview=row.preview,
        price_factor=int(row.price_percent) / 100, hidden=bool(row.hidden), described=True,
    )
