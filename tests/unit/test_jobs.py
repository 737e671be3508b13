"""Jobs through the make-image workflow with a scripted engine: the user-visible outcome and
the ledger after every path (success, engine failure, cancel, lost run, restart)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import (
    Forbidden,
    InsufficientPoints,
    InvalidImage,
    InvalidInput,
    NotFound,
    TooManyJobs,
)
from stationthis.core.events import Event, JobFailed, JobProgressed, JobSucceeded
from stationthis.core.replies import TelegramReply
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import Script, ScriptedEngine, png


async def user(app: App, name: str = "alice") -> Account:
    return await app.users.resolve(Identity("test", name))


async def kinds(app: App, account: Account) -> list[str]:
    return [e.kind for e in reversed(await app.ledger.history(account.id))]


async def test_a_job_delivers_its_image_and_charges_the_quote(app: App) -> None:
    alice = await user(app)
    before = (await app.ledger.balance(alice.id)).total
    job = await app.make_image.make(alice, Request("make", {"prompt": "a red fox", "seed": 7}))
    assert job.state == "queued" and job.quote == 10 + 5  # 512², 20 steps
    done = await app.jobs.wait(job.id, timeout=10)
    assert done.state == "succeeded"
    assert done.cost == done.quote
    assert len(done.outputs) == 1
    item = await app.media.get(done.outputs[0], owner_id=alice.id)
    assert item.width == 512 and item.height == 512
    data = await app.media.read(item)
    assert data.startswith(b"\x89PNG") and b"stationthis:engine" in data
    assert (await app.ledger.balance(alice.id)).total == before - done.cost
    assert await kinds(app, alice) == ["allowance", "hold", "capture", "release"]
    assert await app.ledger.verify(alice.id)


async def test_engine_failure_releases_the_hold_with_a_clear_message(
    app: App, engine: ScriptedEngine
) -> None:
    alice = await user(app)
    before = (await app.ledger.balance(alice.id)).total
    engine.script(Script(fail="CUDA out of memory"))
    job = await app.make_image.make(alice, Request("make", {"prompt": "a fox"}))
    done = await app.jobs.wait(job.id, timeout=10)
    assert done.state == "failed"
    assert done.error == "CUDA out of memory"
    assert (await app.ledger.balance(alice.id)).total == before
    assert await kinds(app, alice) == ["allowance", "hold", "release"]
    assert await app.ledger.verify(alice.id)


async def test_failure_while_fetching_results_is_refunded(app: App, engine: ScriptedEngine) -> None:
    alice = await user(app)
    before = (await app.ledger.balance(alice.id)).total
    engine.script(Script(fail_in_result="output file missing on the server"))
    job = await app.make_image.make(alice, Request("make", {"prompt": "a fox"}))
    done = await app.jobs.wait(job.id, timeout=10)
    assert done.state == "failed" and "missing" in (done.error or "")
    assert (await app.ledger.balance(alice.id)).total == before


async def test_cancel_a_running_job_stops_the_engine_and_refunds(
    app: App, engine: ScriptedEngine
) -> None:
    alice = await user(app)
    before = (await app.ledger.balance(alice.id)).total
    engine.script(Script(hang=True, delay=0.01))
    job = await app.make_image.make(alice, Request("make", {"prompt": "a fox"}))
    for _ in range(200):
        if (await app.jobs.get(job.id)).state == "running":
            break
        await asyncio.sleep(0.01)
    await app.jobs.cancel(job.id, owner_id=alice.id)
    done = await app.jobs.wait(job.id, timeout=10)
    assert done.state == "cancelled"
    assert job.id in engine.cancels
    assert (await app.ledger.balance(alice.id)).total == before


async def test_someone_else_cannot_cancel_or_see_my_job(app: App, engine: ScriptedEngine) -> None:
    alice, bob = await user(app, "alice"), await user(app, "bob")
    engine.script(Script(hang=True, delay=0.01))
    job = await app.make_image.make(alice, Request("make", {"prompt": "a fox"}))
    with pytest.raises(NotFound):
        await app.jobs.cancel(job.id, owner_id=bob.id)
    with pytest.raises(NotFound):
        await app.jobs.get_owned(job.id, bob.id)
    await app.jobs.cancel(job.id, owner_id=alice.id)
    await app.jobs.wait(job.id, timeout=10)


async def test_per_user_queue_limit(app: App, engine: ScriptedEngine) -> None:
    alice, bob = await user(app, "alice"), await user(app, "bob")
    engine.default = Script(hang=True, delay=0.01)
    jobs = [await app.make_image.make(alice, Request("make", {"prompt": f"fox {i}"}))
            for i in range(3)]
    with pytest.raises(TooManyJobs) as err:
        await app.make_image.make(alice, Request("make", {"prompt": "one more"}))
    assert "3" in err.value.message
    await app.make_image.make(bob, Request("make", {"prompt": "bob is fine"}))
    balance = (await app.ledger.balance(alice.id)).total
    assert balance == 1000 - 3 * 15  # the refused job held nothing
    for job in jobs:
        await app.jobs.cancel(job.id)


async def test_too_expensive_is_refused_with_what_fits(
    make_settings: Callable[..., Settings], engine: ScriptedEngine
) -> None:
    async with build(make_settings(allowance={"amount": 200}), engine=engine) as app:
        await _too_expensive(app)


async def _too_expensive(app: App) -> None:
    alice = await user(app)
    # 2048² × 6 images at 48 steps (624 points) is beyond the free allowance of 200.
    big = Request("make", {"prompt": "a fox", "width": 2048, "height": 2048, "batch": 6,
                           "steps": 48})
    quote = await app.make_image.quote(alice, big)
    assert not quote.fits and quote.points > quote.available
    assert quote.alternatives and all(a.points <= quote.available for a in quote.alternatives)
    with pytest.raises(InsufficientPoints) as err:
        await app.make_image.make(alice, big)
    assert err.value.details["quote"] == quote.points
    assert err.value.details["alternatives"]
    assert await app.jobs.list_for(alice.id) == []
    assert (await app.ledger.balance(alice.id)).total == 200


async def test_bad_requests_are_refused_before_anything_is_held(app: App) -> None:
    alice = await user(app)
    with pytest.raises(NotFound, match="unknown tool 'paint'"):
        await app.make_image.make(alice, Request("paint", {"prompt": "x"}))
    with pytest.raises(InvalidInput, match="limit is 2000"):
        await app.make_image.make(alice, Request("make", {"prompt": "x" * 2001}))
    with pytest.raises(InvalidInput, match="between 1 and 150"):
        await app.make_image.make(alice, Request("make", {"prompt": "x", "steps": 500}))
    with pytest.raises(InvalidInput, match="prompt is empty"):
        await app.make_image.make(alice, Request("make", {"prompt": "   "}))
    with pytest.raises(InvalidInput, match="needs an input image"):
        await app.make_image.make(alice, Request("upscale", {}))
    with pytest.raises(InvalidImage):
        await app.media.ingest(alice.id, b"this is not an image")
    assert await kinds(app, alice) == ["allowance"]


async def test_inputs_are_checked_against_their_owner(app: App) -> None:
    alice, bob = await user(app, "alice"), await user(app, "bob")
    item = await app.media.ingest(bob.id, png(128, 96))
    with pytest.raises(NotFound):
        await app.make_image.make(alice, Request("upscale", images={"image": item.id}))
    job = await app.make_image.make(bob, Request("upscale", {"scale": 4},
                                                 images={"image": item.id}))
    assert job.params["width"] == 128 and job.params["height"] == 96
    assert job.quote == 5 + 1 * 1  # 512×384 output fits in one 512² tile
    await app.jobs.wait(job.id, timeout=10)


async def test_banned_users_cannot_generate(app: App) -> None:
    alice = await user(app)
    await app.users.set_banned(alice.id, True)
    with pytest.raises(Forbidden):
        await app.make_image.make(await app.users.get(alice.id), Request("make", {"prompt": "x"}))


async def test_progress_and_completion_events_reach_subscribers(
    app: App, engine: ScriptedEngine
) -> None:
    alice = await user(app)
    seen: list[Event] = []

    async def collect(event: Event) -> None:
        seen.append(event)

    app.bus.subscribe(collect, JobProgressed, JobSucceeded, JobFailed)
    engine.script(Script(steps=4, delay=0.01))
    job = await app.make_image.make(alice, Request("make", {"prompt": "fox"}),
                                    reply={"platform": "telegram", "chat": 42})
    await app.jobs.wait(job.id, timeout=10)
    await app.relay.drain()
    done = [e for e in seen if isinstance(e, JobSucceeded)]
    assert len(done) == 1 and done[0].reply == TelegramReply(chat=42)
    assert any(isinstance(e, JobProgressed) for e in seen)


async def test_unfinished_jobs_resume_after_a_restart(
    settings: Settings, engine: ScriptedEngine
) -> None:
    """A job queued when the process stopped runs at the next start; a run the engine lost
    is failed and refunded (never silently charged)."""
    first = build(settings, engine=engine)
    alice = await user(first)
    engine.default = Script(hang=True, delay=0.01)
    await first.start()
    running = await first.make_image.make(alice, Request("make", {"prompt": "lost"}))
    for _ in range(200):
        if (await first.jobs.get(running.id)).state == "running":
            break
        await asyncio.sleep(0.01)
    await first.queue.stop(grace_seconds=0.05)  # the process dies mid-run
    await first.db.dispose()

    fresh_engine = ScriptedEngine()  # knows nothing of the old run
    second = build(settings, engine=fresh_engine)
    async with second:
        done = await second.jobs.wait(running.id, timeout=10)
        assert done.state == "failed" and done.error_code == "run_lost"
        assert (await second.ledger.balance(alice.id)).total == 1000
        assert await second.ledger.verify(alice.id)


async def test_a_queued_job_left_behind_runs_at_start(settings: Settings) -> None:
    engine = ScriptedEngine()
    first = build(settings, engine=engine)  # never started: nothing consumes the queue
    alice = await user(first)
    job = await first.make_image.make(alice, Request("make", {"prompt": "later"}))
    await first.db.dispose()
    second = build(settings, engine=engine)
    async with second:
        done = await second.jobs.wait(job.id, timeout=10)
    assert done.state == "succeeded"
    assert engine.submits.count(job.id) == 1


async def test_the_engines_start_is_announced_without_a_write_of_its_own(
    app: App, engine: ScriptedEngine
) -> None:
    """"started" says only what ``start_running`` wrote (the job runs): subscribers hear it
    with state running, and no progress write follows it; real progress is still stored."""
    from sqlalchemy import event as sa_event

    alice = await user(app)
    seen: list[JobProgressed] = []
    progress_writes: list[str] = []

    async def collect(event: Event) -> None:
        assert isinstance(event, JobProgressed)
        seen.append(event)

    def statement(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        if sql.startswith("UPDATE jobs SET progress="):  # report_progress, not succeed
            progress_writes.append(sql)

    app.bus.subscribe(collect, JobProgressed)
    sync = app.db.engine.sync_engine
    sa_event.listen(sync, "before_cursor_execute", statement)
    try:
        engine.script(Script(steps=0))
        job = await app.make_image.make(alice, Request("make", {"prompt": "fox"}))
        assert (await app.jobs.wait(job.id, timeout=10)).state == "succeeded"
        assert [(e.state, set(e.progress)) for e in seen] == [("running", {"elapsed"})]
        assert progress_writes == []

        app.runner.progress_interval = 0.0  # every step written
        engine.script(Script(steps=2))
        job = await app.make_image.make(alice, Request("make", {"prompt": "fox"}))
        assert (await app.jobs.wait(job.id, timeout=10)).state == "succeeded"
        assert len(progress_writes) == 2  # the steps are stored, "started" is not
    finally:
        sa_event.remove(sync, "before_cursor_execute", statement)
