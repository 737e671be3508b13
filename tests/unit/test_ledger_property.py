"""Property: whatever a user does — make, regenerate, upscale, cancel — and however the engine
behaves (success, failure while running or while fetching results, lost runs, hangs), the
ledger stays consistent once every job has ended:

- each job's rows (ref ``job:<id>``) are a hold, then either a capture and a release of the
  rest (succeeded) or a release of the whole hold (failed, cancelled);
- refused requests (too many jobs, too few points) leave no job and no rows;
- ``Ledger.verify`` holds and the balance is the start minus the costs of succeeded jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.engine import JobSpec, RunHandle
from stationthis.core.errors import Conflict, InsufficientPoints, TooManyJobs
from stationthis.core.jobs import Job
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import Script, ScriptedEngine, png

SCRIPTS = {
    "ok": Script(),
    "fail": Script(fail="CUDA out of memory"),
    "fail_result": Script(fail_in_result="output file missing"),
    "lose": Script(lose=True),
    "hang": Script(hang=True, delay=0.005),
}
OUTCOME = st.sampled_from(["ok", "ok", "ok", "fail", "fail_result", "lose", "hang"])
INDEX = st.integers(0, 9)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("make"), OUTCOME),
        st.tuples(st.just("make"), OUTCOME),
        st.tuples(st.just("regenerate"), INDEX, OUTCOME),
        st.tuples(st.just("upscale"), INDEX, st.sampled_from([2, 4]), OUTCOME),
        st.tuples(st.just("cancel"), INDEX),
        st.tuples(st.just("settle")),
    ),
    min_size=1, max_size=10,
)


class PerJobEngine(ScriptedEngine):
    """The scripted engine, told per job what to do (the test names the script right after
    the job is created; the runner's submit waits for it)."""

    def __init__(self) -> None:
        super().__init__()
        self.plans: dict[str, asyncio.Event] = {}
        self.chosen: dict[str, Script] = {}

    def plan(self, job_id: str, script: Script) -> None:
        self.chosen[job_id] = script
        self.plans.setdefault(job_id, asyncio.Event()).set()

    async def submit(self, job: JobSpec) -> RunHandle:
        await asyncio.wait_for(self.plans.setdefault(job.job_id, asyncio.Event()).wait(), 10)
        if job.job_id not in self.runs:
            self.next.insert(0, self.chosen[job.job_id])
        return await super().submit(job)


class Scenario:
    def __init__(self, app: App, engine: PerJobEngine, user: Account) -> None:
        self.app = app
        self.engine = engine
        self.user = user
        self.jobs: list[Job] = []
        self.sources: list[str] = []  # images to upscale: an upload, then outputs

    async def start(self, attempt: Any, outcome: str) -> None:
        try:
            job = await attempt
        except (TooManyJobs, InsufficientPoints):
            return  # refused: nothing may be held (checked at the end)
        self.engine.plan(job.id, SCRIPTS[outcome])
        self.jobs.append(job)

    async def do(self, op: tuple[Any, ...]) -> None:
        kind, again = op[0], self.app.again
        if kind == "make":
            await self.start(self.app.make_image.make(
                self.user, Request("make", {"prompt": "a fox"})), op[1])
        elif kind == "regenerate" and self.jobs:
            parent = self.jobs[op[1] % len(self.jobs)]
            await self.start(again.regenerate(self.user, parent.id), op[2])
        elif kind == "upscale":
            source = self.sources[op[1] % len(self.sources)]
            await self.start(again.upscale(self.user, source, op[2]), op[3])
        elif kind == "cancel" and self.jobs:
            with contextlib.suppress(Conflict):  # it may be over already
                await self.app.status.cancel(self.user, self.jobs[op[1] % len(self.jobs)].id)
        elif kind == "settle":
            await self.settle()

    async def settle(self) -> None:
        """Wait for every job that is not hanging; their outputs become upscale sources."""
        for job in self.jobs:
            if self.engine.chosen[job.id].hang:
                continue
            done = await self.app.jobs.wait(job.id, timeout=10)
            self.sources.extend(m for m in done.outputs if m not in self.sources)

    async def end(self) -> list[Job]:
        """Let every job end: the hanging ones are cancelled from the status."""
        await self.settle()
        hanging = {j.id for j in self.jobs if self.engine.chosen[j.id].hang}
        for cancelled in await self.app.status.cancel_all(self.user):
            assert cancelled.job_id in hanging
        return [await self.app.jobs.wait(job.id, timeout=10) for job in self.jobs]


async def check_ledger(app: App, user: Account, ended: list[Job], start: int) -> None:
    rows = list(reversed(await app.ledger.history(user.id, 10_000)))
    refs = {r.ref for r in rows if r.ref is not None}
    assert refs == {job.ref for job in ended}  # refused requests wrote nothing
    for job in ended:
        mine = [r for r in rows if r.ref == job.ref]
        kinds = [r.kind for r in mine]
        holds = [r for r in mine if r.kind == "hold"]
        releases = [r for r in mine if r.kind == "release"]
        assert kinds[: len(holds)] == ["hold"] * len(holds) and holds, kinds
        assert -sum(r.amount for r in holds) == job.quote
        if job.state == "succeeded":
            assert kinds[len(holds)] == "capture" and kinds.count("capture") == 1, kinds
            [capture] = [r for r in mine if r.kind == "capture"]
            assert capture.charged == job.cost == job.quote
            assert sum(r.amount for r in releases) == job.quote - job.cost
        else:
            assert job.state in ("failed", "cancelled"), job.state
            assert "capture" not in kinds and releases, kinds
            assert sum(r.amount for r in releases) == job.quote
        assert kinds[len(holds) + (job.state == "succeeded"):] == ["release"] * len(releases)
    assert await app.ledger.verify(user.id)
    spent = sum(job.cost or 0 for job in ended if job.state == "succeeded")
    assert (await app.ledger.balance(user.id)).total == start - spent


async def scenario(db_file: Path, ops: list[tuple[Any, ...]], credit: int) -> None:
    settings_ = Settings(
        data_dir=db_file.parent, database_url=f"sqlite+aiosqlite:///{db_file}", _env_file=None,
        allowance={"amount": 100, "interval_seconds": 4_000_000_000},
    )
    engine = PerJobEngine()
    async with build(settings_, engine=engine) as app:
        user = await app.users.resolve(Identity("test", "alice"))
        if credit:
            await app.account.grant(user, credit, key="start")
        start = (await app.ledger.balance(user.id)).total
        run = Scenario(app, engine, user)
        run.sources.append((await app.media.ingest(user.id, png(96, 64))).id)
        for op in ops:
            await run.do(op)
        ended = await run.end()
        assert all(job.finished for job in ended)
        await check_ledger(app, user, ended, start)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, credit=st.sampled_from([0, 0, 40]))
def test_the_ledger_stays_consistent_whatever_happens(
    sqlite_template: Path, ops: list[tuple[Any, ...]], credit: int
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ledger-property-"))
    try:
        db_file = folder / "stationthis.db"
        shutil.copy(sqlite_template, db_file)
        asyncio.run(scenario(db_file, ops, credit))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
