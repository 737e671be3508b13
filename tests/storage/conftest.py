"""Fixtures the storage tests share: a ``Database`` on each backend of ``db_url``, and a
clock the ledger tests move by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stationthis.core.db import Database
from tests.support.clock import Clock


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()
