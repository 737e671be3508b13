"""The MediaStore port, and its implementation over obstore (local disk, memory, S3).

Keys are relative paths such as ``uploads/2024/abc123.png``: segments of letters, digits,
``.``, ``_`` and ``-`` joined by single slashes. The same key is valid in every store.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import obstore
from obstore.exceptions import NotFoundError as ObstoreNotFound
from obstore.store import LocalStore, MemoryStore

from stationthis.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from obstore.store import ObjectStore

MAX_KEY_LENGTH = 1024
_KEY = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")
# obstore raises the built-in FileNotFoundError for a missing object; its own NotFoundError
# is listed too in case a backend raises that instead.
_MISSING = (FileNotFoundError, ObstoreNotFound)


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime  # UTC


class MediaStore(Protocol):
    async def put(self, key: str, data: bytes, media_type: str) -> None:
        """Store ``data`` under ``key``, replacing what was there."""

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; `NotFound` when there are none."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds an object."""

    def listing(self) -> AsyncIterator[list[StoredObject]]:
        """Every stored object, a batch at a time (for maintenance: see `prune_orphans`)."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid media key, else raise `InvalidInput`."""
    if (
        len(key) > MAX_KEY_LENGTH
        or not _KEY.fullmatch(key)
        or ".." in key
        or any(part == "." for part in key.split("/"))
    ):
        raise InvalidInput(f"invalid media key: {key[:100]!r}")
    return key


class ObstoreMediaStore:
    """A `MediaStore` over any obstore store.

    Writes to a `LocalStore` go to a temporary file that is renamed into place, so a reader
    never sees half an object. The media type is stored as the object's Content-Type where
    the backend supports attributes (not `LocalStore`); callers keep it in the database too.
    """

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._attributes = not isinstance(store, LocalStore)

    @classmethod
    def local(cls, path: Path) -> ObstoreMediaStore:
        """Files under ``path``, created if missing."""
        return cls(LocalStore(path.expanduser().resolve(), mkdir=True))

    @classmethod
    def memory(cls) -> ObstoreMediaStore:
        return cls(MemoryStore())

    async def put(self, key: str, data: bytes, media_type: str) -> None:
        check_key(key)
        if self._attributes:
            attributes = {"Content-Type": media_type}
            await obstore.put_async(self._store, key, data, attributes=attributes)
        else:
            await obstore.put_async(self._store, key, data)

    async def get(self, key: str) -> bytes:
        check_key(key)
        try:
            result = await obstore.get_async(self._store, key)
            data = await result.bytes_async()
        except _MISSING as exc:
            raise NotFound(f"no media at {key!r}", key=key) from exc
        return data.to_bytes()

    async def delete(self, key: str) -> None:
        check_key(key)
        with contextlib.suppress(*_MISSING):  # LocalStore raises for a missing file
            await obstore.delete_async(self._store, key)

    async def exists(self, key: str) -> bool:
        check_key(key)
        try:
            await obstore.head_async(self._store, key)
        except _MISSING:
            return False
        return True

    async def listing(self) -> AsyncIterator[list[StoredObject]]:
        async for batch in obstore.list(self._store, chunk_size=500):
            yield [StoredObject(m["path"], m["size"], m["last_modified"]) for m in batch]
