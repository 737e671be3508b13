"""Saved styles and wildcard lists of an account (a user or a group): plain storage, with the
shape of each checked on the way in. Applying them to a request is the make-image
workflow's business (workflows/styles.py); who may change a group's is the caller's.

A style: a name, a prompt template (``{prompt}`` marks where the prompt goes; a template
without it is a prefix: ``"film noir, {prompt}"``), a negative prompt, and default inputs
(``{"steps": 30, "cfg": 6, "ar": "3:2"}``) checked against the tool when it is applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stationthis.core.db import Database, utcnow
from stationthis.core.errors import InvalidInput
from stationthis.core.schema import styles, wildcard_lists
from stationthis.core.wildcards import Item, parse_items

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]|_(?!_)){0,39}$")
TEMPLATE_MAX = 2000
MAX_DEFAULTS = 20
MAX_PER_ACCOUNT = 200
PROMPT_MARK = "{prompt}"
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_RATIO = re.compile(r"^\d{1,4}:\d{1,4}$")
NOT_DEFAULTS = ("prompt", "negative", "seed", "style", "loras")


@dataclass(frozen=True)
class Style:
    name: str
    template: str
    negative: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    account_id: str | None = None  # whose (a user or a group)
    updated_at: datetime | None = None

    def apply(self, prompt: str) -> str:
        """The prompt inside the template (after it, when the template has no ``{prompt}``)."""
        if PROMPT_MARK in self.template:
            text = self.template.replace(PROMPT_MARK, prompt)
        else:
            text = f"{self.template.rstrip(' ,')}, {prompt}" if prompt.strip() else self.template
        return " ".join(text.split())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "template": self.template, "negative": self.negative,
                "defaults": dict(self.defaults)}


@dataclass(frozen=True)
class WildcardList:
    name: str
    items: list[Item]
    account_id: str | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "items": [i.to_dict() for i in self.items]}


def check_name(raw: Any, what: str = "a style") -> str:
    name = str(raw or "").strip().lower()
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
    if not NAME.match(name):
        raise InvalidInput(f"the name of {what} is 1–40 letters, digits, - or _ (got {raw!r})",
                           input="name")
    return name


def make_style(name: Any, template: Any, negative: Any = None,
               defaults: Any = None) -> Style:
    """A checked style: every problem is an ``InvalidInput`` naming the field."""
    text = " ".join(str(template or "").split())
    if not text:
        raise InvalidInput("a style needs a prompt template (e.g. \"film noir, {prompt}\")",
                           input="template")
    if len(text) > TEMPLATE_MAX:
        raise InvalidInput(f"a style's template is at most {TEMPLATE_MAX} characters",
                           input="template")
    if text.count(PROMPT_MARK) > 1:
        raise InvalidInput("a style's template has {prompt} once at most", input="template")
    neg = " ".join(str(negative or "").split()) or None
    if neg is not None and len(neg) > TEMPLATE_MAX:
        raise InvalidInput(f"a style's negative is at most {TEMPLATE_MAX} characters",
                           input="negative")
    return Style(check_name(name), text, neg, _defaults(defaults))


def _defaults(raw: Any) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput("a style's defaults are an object, e.g. {\"steps\": 30}",
                           input="defaults")
    if len(raw) > MAX_DEFAULTS:
        raise InvalidInput(f"a style sets at most {MAX_DEFAULTS} defaults", input="defaults")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).strip().lower()
        if not _KEY.match(name) or name in NOT_DEFAULTS:
            raise InvalidInput(f"a style cannot set {key!r} (a style sets inputs such as "
                               "steps, cfg, width, height or ar)", input="defaults")
        if isinstance(value, str):
            value = value.strip()
            if len(value) > 200:
                raise InvalidInput(f"the style's {name} is too long", input="defaults")
        elif not isinstance(value, bool | int | float):
            raise InvalidInput(f"the style's {name} must be a number or text", input="defaults")
        if name == "ar" and not _RATIO.match(str(value)):
            raise InvalidInput(f"the style's ar is W:H, e.g. 16:9 (got {value!r})",
                               input="defaults")
        out[name] = value
    return out


class StyleBook:
    """The styles and wildcard lists of accounts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ----- styles ------------------------------------------------------------------------

    async def save_style(self, account_id: str, style: Style) -> Style:
        """Store (or replace) an account's style of that name."""
        await self._room(styles, account_id, style.name, "styles")
        now = utcnow()
        await self._upsert(styles, account_id, style.name, now, template=style.template,
                           negative=style.negative, defaults=style.defaults)
        return Style(style.name, style.template, style.negative, dict(style.defaults),
                     account_id, now)

    async def styles(self, account_id: str) -> list[Style]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(styles).where(styles.c.account_id == account_id).order_by(styles.c.name))
            return [_style(row) for row in rows.mappings()]

    async def find_style(self, account_id: str, name: str) -> Style | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(styles).where(
                styles.c.account_id == account_id, styles.c.name == name.lower()))).mappings()
            found = row.first()
        return _style(found) if found is not None else None

    async def delete_style(self, account_id: str, name: str) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(delete(styles).where(
                styles.c.account_id == account_id, styles.c.name == name.lower()))
        return bool(result.rowcount)

    # ----- wildcard lists ----------------------------------------------------------------

    async def save_list(self, account_id: str, name: Any, items: Any) -> WildcardList:
        """Store (or replace) an account's list: items as text (``"red:3"``) or objects."""
        checked_name = check_name(name, "a wildcard list")
        checked = parse_items(items)
        await self._room(wildcard_lists, account_id, checked_name, "wildcard lists")
        now = utcnow()
        await self._upsert(wildcard_lists, account_id, checked_name, now,
                           items=[i.to_dict() for i in checked])
        return WildcardList(checked_name, checked, account_id, now)

    async def lists(self, account_id: str) -> list[WildcardList]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(wildcard_lists).where(
                wildcard_lists.c.account_id == account_id).order_by(wildcard_lists.c.name))
            return [_list(row) for row in rows.mappings()]

    async def find_list(self, account_id: str, name: str) -> WildcardList | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(wildcard_lists).where(
                wildcard_lists.c.account_id == account_id,
                wildcard_lists.c.name == name.lower()))).mappings().first()
        return _list(row) if row is not None else None

    async def delete_list(self, account_id: str, name: str) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(delete(wildcard_lists).where(
                wildcard_lists.c.account_id == account_id,
                wildcard_lists.c.name == name.lower()))
        return bool(result.rowcount)

    # ----- helpers -----------------------------------------------------------------------

    async def _room(self, table: Any, account_id: str, name: str, what: str) -> None:
        async with self.db.read() as conn:
            names = set((await conn.execute(
                select(table.c.name).where(table.c.account_id == account_id))).scalars())
        if name not in names and len(names) >= MAX_PER_ACCOUNT:
            raise InvalidInput(f"an account keeps at most {MAX_PER_ACCOUNT} {what}: remove one "
                               "first")

    async def _upsert(self, table: Any, account_id: str, name: str, now: datetime,
                      **values: Any) -> None:
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        stmt = insert(table).values(account_id=account_id, name=name, created_at=now,
                                    updated_at=now, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.account_id, table.c.name],
            set_={**{k: stmt.excluded[k] for k in values}, "updated_at": now},
        )
        async with self.db.write() as conn:
            await conn.execute(stmt)


def _style(row: Any) -> Style:
    return Style(row["name"], row["template"], row["negative"], dict(row["defaults"] or {}),
                 row["account_id"], row["updated_at"])


def _list(row: Any) -> WildcardList:
    return WildcardList(row["name"], [Item(str(i["value"]), float(i["weight"]))
                                      for i in row["items"]], row["account_id"],
                        row["updated_at"])
