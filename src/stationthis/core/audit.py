"""The audit log: every admin action, who did it, on what, before and after. Append-only:
this module writes and reads rows and has no way to change or delete one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.db import Database, as_utc, utcnow
from stationthis.core.schema import audit_log


@dataclass(frozen=True)
class AuditEntry:
    id: int
    actor_id: str | None
    actor: str
    action: str
    target: str | None
    before: Any
    after: Any
    reason: str | None
    created_at: datetime


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, actor_id: str | None, actor: str, action: str, target: str | None,
                     *, before: Any = None, after: Any = None, reason: str | None = None,
                     conn: AsyncConnection | None = None) -> None:
        values = {"actor_id": actor_id, "actor": actor[:200], "action": action[:64],
                  "target": target[:200] if target else None, "before": before, "after": after,
                  "reason": reason or None, "created_at": utcnow()}
        if conn is not None:
            await conn.execute(insert(audit_log).values(**values))
            return
        async with self.db.write() as own:
            await own.execute(insert(audit_log).values(**values))

    async def recent(self, *, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
        query = select(audit_log)
        if target is not None:
            query = query.where(audit_log.c.target == target)
        query = query.order_by(audit_log.c.id.desc()).limit(limit)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [AuditEntry(r.id, r.actor_id, r.actor, r.action, r.target, r.before, r.after,
                           r.reason, as_utc(r.created_at)) for r in rows]
