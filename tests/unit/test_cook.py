"""Cook runs: a 20-piece run with pause / resume and a failed piece (ledger checked), a run
the balance cannot cover, cancel, the config hash, review, permissions, and a restart that
continues where the run stopped."""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from stationthis.core.events import CookFinished, CookProgressed, Event, JobProgressed
from stationthis.core.replies import TelegramReply
from stationthis.core.schema import jobs
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.cook import CookStatus
from tests.support.recording_notifier import RecordingNotifier
from tests.support.scripted import Script, ScriptedEngine

PRICE = 15  # make at 512×512, 20 steps: 10 base + 1 tile × 5
CONFIG: dict[str, Any] = {
    "master_prompt": "a [animal] in [place], [style] style",
    "trait_types": [
        {"name": "animal", "traits": [{"name": "fox", "prompt": "red fox", "weight": 3},
                                      {"name": "owl"}, "cat"]},
        {"name": "place", "traits": ["forest", "ocean", "city"]},
        {"name": "style", "traits": ["ink", "watercolor"]},
    ],
    "exclusions": [["animal:fox", "place:ocean"]],
    "supply": 20,
    "seed": 7,
}


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine(Script(delay=0.03))


def cfg(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(CONFIG)
    data.update(changes)
    return data


async def user(app: App, name: str = "alice") -> Account:
    return await app.users.resolve(Identity("web", name))


async def cooked(app: App, owner: Account, **changes: Any) -> str:
    c = await app.collections.create(owner, "Critters")
    await app.cook.configure(owner, c.id, cfg(**changes))
    return c.id


async def until(app: App, owner: Account, cid: str, check: Callable[[CookStatus], bool],
                timeout: float = 30) -> CookStatus:
    async with asyncio.timeout(timeout):
        while True:
            status = await app.cook.status(owner, cid)
            if check(status):
                return status
            await asyncio.sleep(0.02)


async def holds_settled(app: App, account_id: str) -> None:
    """Every hold of the account was captured or released: nothing stays reserved."""
    rows = await app.ledger.history(account_id, limit=1000)
    held = {r.ref for r in rows if r.kind == "hold"}
    settled = {r.ref for r in rows if r.kind in ("capture", "release")}
    assert held and held <= settled
    assert await app.ledger.verify(account_id)


async def cook_jobs(app: App, owner: Account) -> list[Any]:
    async with app.db.read() as conn:
        return list((await conn.execute(
            jobs.select().where(jobs.c.owner_id == owner.id, jobs.c.origin == "cook")
        )).all())


async def test_twenty_pieces_with_pause_resume_and_a_failure(
    app: App, engine: ScriptedEngine
) -> None:
    alice = await user(app)
    start = (await app.ledger.balance(alice.id)).total
    cid = await cooked(app, alice)
    quote = await app.cook.quote(alice, cid)
    assert (quote.pieces, quote.per_piece, quote.points, quote.fits) == (20, PRICE, 20 * PRICE,
                                                                          20)
    engine.script(*[Script(delay=0.03)] * 6, Script(delay=0.03, fail="GPU out of memory"))
    seen: list[tuple[int, int]] = []

    async def progress(event: Event) -> None:
        assert isinstance(event, CookProgressed)
        seen.append((event.done, event.total))

    app.bus.subscribe(progress, CookProgressed)
    status = await app.cook.start(alice, cid)
    assert status.state == "running" and status.total == 20
    assert 1 <= status.in_flight <= app.settings.max_queued_per_user  # never the whole supply

    await until(app, alice, cid, lambda s: s.done >= 8)
    paused = await app.cook.pause(alice, cid)
    assert paused.state == "paused"
    settled = await until(app, alice, cid, lambda s: s.in_flight == 0)
    jobs_at_pause = len(await cook_jobs(app, alice))
    await asyncio.sleep(0.3)  # nothing new starts while paused
    assert len(await cook_jobs(app, alice)) == jobs_at_pause == settled.done + settled.failed
    assert settled.pending == 20 - jobs_at_pause > 0

    await app.cook.resume(alice, cid)
    final = await app.cook.drive(alice, cid, timeout=60)
    assert (final.state, final.done, final.failed, final.progress) == ("finished", 19, 1,
                                                                        "19/20")
    failed = await app.cook.pieces(alice, cid, state="failed")
    assert len(failed) == 1 and failed[0].error == "GPU out of memory"
    assert (await app.ledger.balance(alice.id)).total == start - 19 * PRICE
    await holds_settled(app, alice.id)
    assert seen and seen[-1] == (19, 20)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    # the failed piece is retried with the same traits and is charged once
    retried = await app.cook.retry(alice, cid, failed[0].number)
    assert retried.attributes == failed[0].attributes and retried.seed != failed[0].seed
    final = await app.cook.drive(alice, cid, timeout=30)
    assert (final.state, final.progress, final.failed) == ("finished", "20/20", 0)
    assert (await app.ledger.balance(alice.id)).total == start - 20 * PRICE
    await holds_settled(app, alice.id)
    # each piece was made from its own traits; prompts and seeds went to the engine
    prompts = Counter(r.params["prompt"] for r in await cook_jobs(app, alice)
                      if r.state == "succeeded")
    pieces = await app.cook.pieces(alice, cid, per_page=100)
    assert sorted(prompts.elements()) == sorted(p.prompt for p in pieces)
    assert not any("[" in p.prompt for p in pieces)


async def test_a_run_the_balance_cannot_cover_quotes_what_fits_and_pauses(
    make_settings: Callable[..., Settings],
) -> None:
    app = build(make_settings(allowance={"amount": 100}), engine=ScriptedEngine())
    await app.start()
    try:
        alice = await user(app)
        cid = await cooked(app, alice)
        quote = await app.cook.quote(alice, cid)
        assert (quote.points, quote.available, quote.fits, quote.enough) == (300, 100, 6, False)
        await app.cook.start(alice, cid)
        status = await app.cook.drive(alice, cid, timeout=30)
        assert (status.state, status.done, status.pending) == ("paused", 6, 14)
        assert status.reason is not None and "balance is short" in status.reason
        assert (await app.ledger.balance(alice.id)).total == 100 - 6 * PRICE
        await holds_settled(app, alice.id)
        assert (await app.cook.quote(alice, cid)).pieces == 14
        await app.ledger.grant(alice.id, 500, key="topup")
        await app.cook.resume(alice, cid)
        status = await app.cook.drive(alice, cid, timeout=30)
        assert (status.state, status.progress) == ("finished", "20/20")
        assert (await app.ledger.balance(alice.id)).total == 600 - 20 * PRICE
    finally:
        await app.stop()


async def test_cancel_releases_running_pieces_and_the_same_config_continues(
    app: App, engine: ScriptedEngine
) -> None:
    engine.default = Script(hang=True)
    alice = await user(app)
    start = (await app.ledger.balance(alice.id)).total
    cid = await cooked(app, alice, supply=6)
    status = await app.cook.start(alice, cid)
    assert status.in_flight == 3
    assert (await app.ledger.balance(alice.id)).total == start - 3 * PRICE  # three holds only
    cancelled = await app.cook.cancel(alice, cid)
    assert cancelled.state == "cancelled"
    await until(app, alice, cid, lambda s: s.in_flight == 0)
    assert (await app.ledger.balance(alice.id)).total == start
    await holds_settled(app, alice.id)
    with pytest.raises(Conflict, match="already cancelled"):
        await app.cook.cancel(alice, cid)

    engine.default = Script()
    again = await app.cook.start(alice, cid)
    assert again.recognised and again.run_id == status.run_id
    final = await app.cook.drive(alice, cid, timeout=30)
    assert (final.state, final.done) == ("finished", 3)  # the 3 cancelled: retry them
    for piece in await app.cook.pieces(alice, cid, state="cancelled"):
        await app.cook.retry(alice, cid, piece.number)
    final = await app.cook.drive(alice, cid, timeout=30)
    assert final.progress == "6/6"


async def test_the_config_hash_recognises_a_configuration(app: App) -> None:
    alice = await user(app)
    cid = await cooked(app, alice, supply=3)
    first = await app.cook.start(alice, cid)
    assert not first.recognised
    done = await app.cook.drive(alice, cid, timeout=30)
    assert done.state == "finished"
    same = await app.cook.start(alice, cid)
    assert same.recognised and same.run_id == first.run_id and same.done == 3
    assert len(await cook_jobs(app, alice)) == 3  # nothing made again
    fresh = await app.cook.start(alice, cid, again=True)
    assert fresh.run_id != first.run_id
    await app.cook.pause(alice, cid)
    await app.cook.configure(alice, cid, cfg(supply=4))
    with pytest.raises(Conflict, match="another configuration"):
        await app.cook.start(alice, cid)


async def test_review_keep_reject_regenerate(app: App) -> None:
    alice = await user(app)
    cid = await cooked(app, alice, supply=4)
    await app.cook.start(alice, cid)
    await app.cook.drive(alice, cid, timeout=30)
    pieces = await app.cook.pieces(alice, cid)
    kept = await app.cook.keep(alice, cid, 1)
    assert kept.attributes == pieces[0].attributes and kept.name == "Critters #1"
    assert kept.media_id == pieces[0].media_id
    assert (await app.cook.keep(alice, cid, 1)).id == kept.id  # keeping twice adds once
    await app.cook.keep(alice, cid, 2)
    rejected = await app.cook.reject(alice, cid, 2)
    assert rejected.review == "rejected"
    items = (await app.collections.items(alice, cid)).items
    assert [i.media_id for i in items] == [pieces[0].media_id]
    again = await app.cook.regenerate(alice, cid, 3)
    assert again.attributes == pieces[2].attributes and again.attempt == 1
    status = await app.cook.drive(alice, cid, timeout=30)
    remade = (await app.cook.pieces(alice, cid))[2]
    assert status.progress == "4/4" and remade.media_id not in (None, pieces[2].media_id)
    status = await app.cook.status(alice, cid)
    assert (status.kept, status.rejected) == (1, 1)


async def test_bad_input_and_permissions(app: App) -> None:
    alice, bob, eve = await user(app), await user(app, "bob"), await user(app, "eve")
    c = await app.collections.create(alice, "Critters")
    with pytest.raises(InvalidInput, match="no cook configuration"):
        await app.cook.quote(alice, c.id)
    with pytest.raises(InvalidInput, match="supply of 5000 is over the limit of 1000"):
        await app.cook.configure(alice, c.id, cfg(supply=5000))
    with pytest.raises(InvalidInput, match="no trait type named 'hat'"):
        await app.cook.configure(alice, c.id, cfg(master_prompt="a [animal] in a [hat]"))
    with pytest.raises(NotFound):
        await app.cook.configure(alice, c.id, cfg(tool="no-such-tool"))
    assert (await app.collections.view(alice, c.id)).cook is None  # nothing stored
    await app.cook.configure(alice, c.id, cfg(supply=2))
    await app.collections.share(alice, c.id, "web:bob", "edit")
    with pytest.raises(Forbidden, match="only the owner"):
        await app.cook.start(bob, c.id)
    with pytest.raises(Forbidden, match="only the owner"):
        await app.cook.configure(bob, c.id, cfg())
    with pytest.raises(NotFound):
        await app.cook.start(eve, c.id)
    with pytest.raises(NotFound, match="not been cooked"):
        await app.cook.status(alice, c.id)
    await app.cook.start(alice, c.id)
    await app.cook.drive(alice, c.id, timeout=30)
    assert (await app.cook.status(bob, c.id)).progress == "2/2"  # a sharer can watch
    with pytest.raises(NotFound):
        await app.cook.pieces(eve, c.id)
    with pytest.raises(Conflict, match="not paused"):
        await app.cook.resume(alice, c.id)
    with pytest.raises(NotFound, match="no piece 9"):
        await app.cook.keep(alice, c.id, 9)


async def test_a_restart_continues_the_run_where_it_stopped(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    engine = ScriptedEngine(Script(delay=0.05))  # the backend keeps running across restarts
    first = build(settings, engine=engine)
    await first.start()
    alice = await user(first)
    cid = await cooked(first, alice, supply=10)
    await first.cook.start(alice, cid)
    await until(first, alice, cid, lambda s: s.done >= 2)
    await first.stop()  # pieces are in flight: their jobs are still running

    second = build(settings, engine=engine)
    await second.start()  # jobs reconciled, the run advanced from the database
    try:
        status = await second.cook.drive(alice, cid, timeout=60)
        assert (status.state, status.progress, status.failed) == ("finished", "10/10", 0)
        made = await cook_jobs(second, alice)
        assert len(made) == 10 and all(r.state == "succeeded" for r in made)
        pieces = await second.cook.pieces(alice, cid)
        assert sorted(r.id for r in made) == sorted(str(p.job_id) for p in pieces)
        await holds_settled(second, alice.id)
    finally:
        await second.stop()


async def test_twenty_pieces_on_the_preview_engine(preview_app: App) -> None:
    app = preview_app
    alice = await user(app)
    start = (await app.ledger.balance(alice.id)).total
    cid = await cooked(app, alice, options={"width": 256, "height": 256})
    await app.cook.start(alice, cid)
    await until(app, alice, cid, lambda s: s.done >= 3)
    await app.cook.pause(alice, cid)
    paused = await until(app, alice, cid, lambda s: s.in_flight == 0)
    assert paused.state == "paused" and paused.pending > 0
    await app.cook.resume(alice, cid)
    final = await app.cook.drive(alice, cid, timeout=120)
    assert (final.state, final.progress) == ("finished", "20/20")
    pieces = await app.cook.pieces(alice, cid)
    images = [await app.media.read(await app.media.get(str(p.media_id))) for p in pieces]
    assert len(set(images)) == 20  # each piece its own prompt and seed
    assert (await app.ledger.balance(alice.id)).total == start - 20 * PRICE
    await holds_settled(app, alice.id)


async def test_deleting_a_collection_mid_cook_stops_it_and_releases_holds(
    app: App, engine: ScriptedEngine
) -> None:
    engine.default = Script(hang=True)
    alice = await user(app)
    start = (await app.ledger.balance(alice.id)).total
    cid = await cooked(app, alice, supply=5)
    await app.cook.start(alice, cid)
    assert (await app.ledger.balance(alice.id)).total == start - 3 * PRICE
    await app.collections.delete(alice, cid)
    async with asyncio.timeout(10):
        while any(r.state != "cancelled" for r in await cook_jobs(app, alice)):
            await asyncio.sleep(0.02)
    assert (await app.ledger.balance(alice.id)).total == start
    await holds_settled(app, alice.id)
    with pytest.raises(NotFound):
        await app.cook.status(alice, cid)


async def test_run_progress_is_its_own_event_at_the_runs_reply_address(
    make_settings: Callable[..., Settings],
) -> None:
    """Progress comes as ``CookProgressed`` with the run's reply address, never disguised as
    a job's progress (which every notifier had to unpick) and never for a piece's job."""
    telegram = RecordingNotifier("telegram")
    app = build(make_settings(notify_progress_interval=0), engine=ScriptedEngine(),
                notifiers=[telegram])
    await app.start()
    try:
        alice = await user(app)
        cid = await cooked(app, alice, supply=5)
        finished: list[CookFinished] = []
        progressed: list[CookProgressed] = []
        job_progress: list[JobProgressed] = []

        async def record(event: Event) -> None:
            if isinstance(event, CookFinished):
                finished.append(event)
            elif isinstance(event, CookProgressed):
                progressed.append(event)
            elif isinstance(event, JobProgressed):
                job_progress.append(event)

        app.bus.subscribe(record, CookFinished, CookProgressed, JobProgressed)
        chat = TelegramReply(chat=9, message=3)
        status = await app.cook.start(alice, cid, reply=chat)
        await app.cook.drive(alice, cid, timeout=30)
        async with asyncio.timeout(10):
            while not finished:
                await asyncio.sleep(0.02)
        await app.notifications.wait_idle()
        assert progressed and all(e.reply == chat for e in progressed)
        assert {(e.run_id, e.collection_id, e.owner_id, e.total) for e in progressed} == {
            (status.run_id, cid, alice.id, 5)}
        steps = [e.done for e in progressed]
        assert steps == sorted(steps) and steps[-1] == 5
        assert progressed[-1].state == "finished"
        assert all(e.job_id != status.run_id for e in job_progress)  # no disguise
        assert not telegram.calls  # pieces stay quiet, the run is not a job
        assert [(e.done, e.total, e.reply) for e in finished] == [(5, 5, chat)]
    finally:
        await app.stop()
