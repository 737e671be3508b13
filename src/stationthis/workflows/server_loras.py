"""The servers' LoRAs: listed for everyone, used by name or trigger word like a user's own
model, priced by the operator's factor.

A request names LoRAs three ways, for users' own models and server LoRAs alike:

- the ``loras`` input (a list; an entry may carry a strength: ``ink:0.8``),
- a tag in the prompt, ``<lora:ink>`` or ``<lora:ink:0.8>`` (taken out of the prompt),
- a trigger word in the prompt (the word stays: it is part of what the LoRA learned).

A name is looked up among the user's own models first, then the server LoRAs (display name,
file name, or file name without extension; case-insensitive). An unknown name is refused
before anything is priced, listing the close names.
"""

from __future__ import annotations

import difflib
import re
import time
from typing import Any

from stationthis.core.engine import Engine, lora_lister
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.server_loras import ServerLora, ServerLoraCatalog, plain_name

# A user's uploaded LoRA as the ComfyUI engine names it on a server (engines/comfyui/loras.py):
# those are people's own models, not the server's.
_USER_FILE = re.compile(r"(^|/)st-[0-9a-f]{24}\.safetensors$")
_TAG = re.compile(r"<lora:([^:<>]{1,100})(?::(-?\d+(?:\.\d+)?))?>", re.IGNORECASE)
CACHE_SECONDS = 30.0
# What operators set (names, triggers, price factors, hidden), read at most this often per
# process: every job looks for trigger words in its prompt. A change made in this process
# shows at once; other processes see it within this time (as moderation rules).
ENTRIES_SECONDS = 10.0


def take_tags(prompt: str) -> tuple[str, list[tuple[str, float | None]]]:
    """The prompt without its ``<lora:name[:strength]>`` tags, and the tags."""
    found = [(m.group(1).strip(), float(m.group(2)) if m.group(2) else None)
             for m in _TAG.finditer(prompt)]
    if not found:
        return prompt, []
    return " ".join(_TAG.sub(" ", prompt).split()), found


def split_strength(entry: str) -> tuple[str, float | None]:
    """``ink:0.8`` → (``ink``, 0.8); ``ink`` → (``ink``, None)."""
    name, sep, value = entry.rpartition(":")
    if sep and name.strip():
        try:
            return name.strip(), float(value)
        except ValueError:
            pass
    return entry.strip(), None


class ServerLoras:
    def __init__(self, catalog: ServerLoraCatalog, engine: Engine) -> None:
        self.catalog = catalog
        self.engine = engine
        self._files: tuple[float, list[str]] = (0.0, [])
        self._entries: tuple[float, dict[str, ServerLora]] = (0.0, {})

    async def files(self, fresh: bool = False) -> list[str]:
        """The LoRA files the engine's servers list now (cached for a few seconds)."""
        taken, names = self._files
        if not fresh and taken and time.monotonic() - taken < CACHE_SECONDS:
            return names
        lister = lora_lister(self.engine)
        names = [] if lister is None else [
            n for n in await lister.lora_names() if not _USER_FILE.search(n.replace("\\", "/"))]
        self._files = (time.monotonic(), names)
        return names

    async def all(self, *, include_hidden: bool = False) -> list[ServerLora]:
        """The servers' LoRAs with what operators set; described files the servers no longer
        list are included (``available`` False) only with ``include_hidden``."""
        entries = await self._catalog()
        files = await self.files()
        out = [_merge(f, entries.get(f)) for f in files]
        if include_hidden:
            listed = set(files)
            out += [_with(e, available=False) for f, e in entries.items() if f not in listed]
        else:
            out = [lora for lora in out if not lora.hidden]
        return sorted(out, key=lambda lora: lora.name.lower())

    async def _catalog(self) -> dict[str, ServerLora]:
        taken, entries = self._entries
        if taken and time.monotonic() - taken < ENTRIES_SECONDS:
            return entries
        entries = await self.catalog.entries()
        self._entries = (time.monotonic(), entries)
        return entries

    async def find(self, name: str) -> ServerLora:
        """A usable server LoRA by display name, file name or file stem; NotFound names the
        close ones."""
        key = name.strip().lower()
        usable = await self.all()
        for lora in usable:
            if key in (lora.name.lower(), lora.file_name.lower(),
                       plain_name(lora.file_name).lower()):
                return lora
        raise NotFound(f"there is no LoRA called {name!r}" + _close(name, usable))

    async def set(self, file_name: str, **changes: Any) -> ServerLora:
        """Operators: set a listed file's name, triggers, preview, price factor, hidden."""
        files = await self.files(fresh=True)
        if file_name not in files:
            by_stem = [f for f in files if plain_name(f).lower() == file_name.lower()]
            if len(by_stem) != 1:
                hint = difflib.get_close_matches(file_name, files, n=3, cutoff=0.5)
                raise NotFound(
                    f"the servers have no LoRA file {file_name!r}"
                    + (f"; close: {', '.join(hint)}" if hint else "")
                    + (f" ({len(files)} listed: stationthis loras list)" if files else "")
                )
            file_name = by_stem[0]
        name = " ".join(str(changes.get("name") or "").split()).lower()
        if name:
            entries = await self.catalog.entries()
            clash = [f for f in files if f != file_name
                     and _merge(f, entries.get(f)).name.lower() == name]
            if clash:
                raise InvalidInput(f"the name {changes['name']!r} is already the LoRA {clash[0]!r}")
        entry = await self.catalog.set(file_name, **changes)
        self._entries = (0.0, {})  # read again at the next use
        return _merge(file_name, entry)

    async def in_prompt(self, prompt: str) -> list[ServerLora]:
        """The usable server LoRAs whose trigger word is in ``prompt`` as a whole word."""
        found = []
        for lora in await self.all():
            if any(re.search(rf"(?<!\w){re.escape(t)}(?!\w)", prompt, re.IGNORECASE)
                   for t in lora.triggers):
                found.append(lora)
        return found


def _close(name: str, loras: list[ServerLora]) -> str:
    close = difflib.get_close_matches(name, [lora.name for lora in loras], n=3, cutoff=0.4)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _merge(file_name: str, entry: ServerLora | None) -> ServerLora:
    if entry is None:
        return ServerLora(file_name=file_name, name=plain_name(file_name))
    return _with(entry, available=True)


def _with(entry: ServerLora, *, available: bool) -> ServerLora:
    return ServerLora(entry.file_name, entry.name, entry.triggers, entry.preview,
                      entry.price_factor, entry.hidden, entry.described, available)
