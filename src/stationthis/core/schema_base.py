"""What every part of the schema shares: the metadata (with its naming convention) and the
id and time column types."""

from __future__ import annotations

from sqlalchemy import DateTime, MetaData, String

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(32)  # uuid4 hex
TS = DateTime(timezone=True)
