"""Trained models (LoRA files, preview style profiles) owned by users, usable by name or by
their trigger word in a prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select

from stationthis.core.db import Database, as_utc, new_id, utcnow
from stationthis.core.errors import NotFound
from stationthis.core.schema import models

# built once: every job looks for its owner's trigger words with it
_OWNED = select(models).where(models.c.owner_id == bindparam("owner_id")).order_by(
    models.c.created_at)


@dataclass(frozen=True)
class Model:
    id: str
    owner_id: str
    name: str
    trigger: str
    base_model: str
    kind: str  # lora | style
    engine: str
    media_id: str
    dataset_id: str | None
    job_id: str | None
    created_at: datetime


class ModelRegistry:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def register(
        self, *, owner_id: str, name: str, trigger: str, base_model: str, kind: str,
        engine: str, media_id: str, dataset_id: str | None, job_id: str,
    ) -> Model:
        """Record a trained model; idempotent on ``job_id`` (events arrive at least once).
        A name already taken gets a number: "fox", "fox 2", …"""
        async with self.db.write() as conn:
            found = (await conn.execute(select(models).where(models.c.job_id == job_id))).first()
            if found is not None:
                return _model(found)
            taken = {
                str(n).lower() for n in (await conn.execute(
                    select(models.c.name).where(models.c.owner_id == owner_id)
                )).scalars()
            }
            unique, number = name, 2
            while unique.lower() in taken:
                unique, number = f"{name} {number}", number + 1
            model_id = new_id()
            await conn.execute(insert(models).values(
                id=model_id, owner_id=owner_id, name=unique, trigger=trigger,
                base_model=base_model, kind=kind, engine=engine, media_id=media_id,
                dataset_id=dataset_id, job_id=job_id, created_at=utcnow(),
            ))
        return await self.get(owner_id, model_id)

    async def get(self, owner_id: str, model_id: str) -> Model:
        async with self.db.read() as conn:
            row = (await conn.execute(select(models).where(models.c.id == model_id))).first()
        if row is None or row.owner_id != owner_id:
            raise NotFound("no such model")
        return _model(row)

    async def list_for(self, owner_id: str) -> list[Model]:
        async with self.db.read() as conn:
            rows = (await conn.execute(_OWNED, {"owner_id": owner_id})).all()
        return [_model(r) for r in rows]

    async def find(self, owner_id: str, name: str) -> Model:
        """One of the owner's models by name or trigger word (case-insensitive)."""
        key = name.strip().lower()
        async with self.db.read() as conn:
            row = (await conn.execute(
                select(models).where(
                    models.c.owner_id == owner_id,
                    (func.lower(models.c.name) == key) | (func.lower(models.c.trigger) == key),
                ).order_by(models.c.created_at.desc())
            )).first()
        if row is None:
            raise NotFound(f"you have no model called {name!r}")
        return _model(row)

    async def in_prompt(self, owner_id: str, prompt: str) -> list[Model]:
        """The owner's models whose trigger word appears in ``prompt`` as a whole word."""
        found = []
        for model in await self.list_for(owner_id):
            if re.search(rf"(?<!\w){re.escape(model.trigger)}(?!\w)", prompt, re.IGNORECASE):
                found.append(model)
        return found


def _model(row: Any) -> Model:
    return Model(
        id=row.id, owner_id=row.owner_id, name=row.name, trigger=row.trigger,
        base_model=row.base_model, kind=row.kind, engine=row.engine, media_id=row.media_id,
        dataset_id=row.dataset_id, job_id=row.job_id, created_at=as_utc(row.created_at),
    )
