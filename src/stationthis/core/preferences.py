"""Per-account preferences: a user's settings, or a group's defaults for its members.

Plain storage of ``key → JSON value`` rows; what a key means and which values are allowed is
the settings workflow's business, not this module's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stationthis.core.db import Database, utcnow
from stationthis.core.schema import preferences

# built once: read for every job started
_GET = select(preferences.c.key, preferences.c.value).where(
    preferences.c.account_id == bindparam("account_id"))


class Preferences:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, account_id: str) -> dict[str, Any]:
        """All of an account's preferences (an empty dict when it has none)."""
        async with self.db.read() as conn:
            rows = await conn.execute(_GET, {"account_id": account_id})
            return {key: value for key, value in rows}

    async def set(self, account_id: str, key: str, value: Any) -> None:
        """Store one preference (replacing its old value). ``None`` removes it."""
        if value is None:
            await self.unset(account_id, key)
            return
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        now = utcnow()
        stmt = insert(preferences).values(
            account_id=account_id, key=key, value=value, updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[preferences.c.account_id, preferences.c.key],
            set_={"value": stmt.excluded.value, "updated_at": now},
        )
        async with self.db.write() as conn:
            await conn.execute(stmt)

    async def unset(self, account_id: str, key: str) -> bool:
        """Remove one preference; whether there was one."""
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(preferences).where(
                    preferences.c.account_id == account_id, preferences.c.key == key
                )
            )
        return bool(result.rowcount)

    async def reset(self, account_id: str) -> int:
        """Remove all of an account's preferences; how many there were."""
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(preferences).where(preferences.c.account_id == account_id)
            )
        return int(result.rowcount)
