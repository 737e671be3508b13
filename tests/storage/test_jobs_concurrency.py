"""Many job submissions for one user at once, from two processes, on SQLite and PostgreSQL:
the per-user limit holds exactly, every refusal is a clear one (never a database deadlock),
and the ledger stays consistent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import TooManyJobs
from stationthis.core.users import Identity
from stationthis.workflows.make_image import Request
from tests.support.scripted import Script, ScriptedEngine


async def test_simultaneous_submissions_respect_the_limit_without_deadlocks(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(database_url=db_url, max_queued_per_user=3)
    engine = ScriptedEngine(Script(hang=True))  # jobs stay unfinished: the limit is reached
    first, second = build(settings, engine=engine), build(settings, engine=engine)
    await first.start()
    await second.start(resume=False)
    try:
        alice = await first.users.resolve(Identity("web", "alice"))
        await first.ledger.grant(alice.id, 1000, key="test:alice")
        before = (await first.ledger.balance(alice.id)).total

        async def submit(app_index: int, n: int) -> str:
            app = (first, second)[app_index]
            try:
                job = await app.make_image.make(alice, Request("make", {"prompt": f"fox {n}"}))
            except TooManyJobs:
                return "refused"
            return job.id

        outcomes = await asyncio.gather(*(submit(n % 2, n) for n in range(16)))
        accepted = [o for o in outcomes if o != "refused"]
        assert len(accepted) == 3, outcomes  # exactly the limit, whoever won the race
        held = sum([(await first.jobs.get(job_id)).quote for job_id in accepted])
        assert (await first.ledger.balance(alice.id)).total == before - held
        assert await first.ledger.verify(alice.id)
        for job_id in accepted:  # hanging runs end here, their holds released
            await first.jobs.cancel(job_id, alice.id)
    finally:
        await second.stop()
        await first.stop()
