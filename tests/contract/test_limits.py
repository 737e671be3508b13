"""The limit ports (throttle, replay guard, sign-in backoff, chat rate limiter, send pacer)
against the embedded implementations (database, memory) and Redis on a real redis-server; then
what Redis alone must survive: stopping in the middle (the database or memory answers, no
error reaches a caller, security limits hold) and coming back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.auth import BadCredentials, TooManyAttempts
from stationthis.core.db import Database
from stationthis.core.ratelimit import Limits, LocalLimits, PaceLimits
from stationthis.core.redis_limits import RedisLimits
from stationthis.core.throttle import Allowed, Refused
from stationthis.platforms.chat.limits import START, UPLOAD, ChatLimits
from tests.support.redis import RedisServer
from tests.support.scripted import ScriptedEngine

PASSWORD = "correct horse battery"


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(params=["local", "redis"])
async def limits(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[Limits]:
    made: Limits
    if request.param == "local":
        made = LocalLimits(db)
    else:
        made = RedisLimits(db, request.getfixturevalue("redis_url"))
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def redis_limits(db: Database, redis_url: str) -> AsyncIterator[RedisLimits]:
    made = RedisLimits(db, redis_url)
    try:
        yield made
    finally:
        await made.close()


# ----- the throttle -------------------------------------------------------------------------

async def test_a_throttle_allows_the_limit_then_refuses_until_the_window_ends(
    limits: Limits,
) -> None:
    verdicts = [await limits.throttle.hit("signup:1.2.3.4", 3, 600) for _ in range(4)]
    assert verdicts[:3] == [Allowed(2), Allowed(1), Allowed(0)]
    assert isinstance(verdicts[3], Refused) and 1 <= verdicts[3].retry_after <= 600
    assert await limits.throttle.hit("signup:5.6.7.8", 3, 600) == Allowed(2)  # per key


async def test_parallel_hits_never_slip_past_the_limit(limits: Limits) -> None:
    verdicts = await asyncio.gather(*(limits.throttle.hit("link:a", 5, 600) for _ in range(30)))
    assert sum(isinstance(v, Allowed) for v in verdicts) == 5


async def test_undo_gives_one_hit_back(limits: Limits) -> None:
    for _ in range(2):
        await limits.throttle.hit("link:b", 2, 600)
    await limits.throttle.undo("link:b")
    assert await limits.throttle.hit("link:b", 2, 600) == Allowed(0)
    assert isinstance(await limits.throttle.hit("link:b", 2, 600), Refused)
    await limits.throttle.undo("link:nobody")  # nothing to give back: fine


async def test_a_new_window_starts_over(limits: Limits) -> None:
    assert await limits.throttle.hit("k", 1, 0.3) == Allowed(0)
    assert isinstance(await limits.throttle.hit("k", 1, 0.3), Refused)
    await asyncio.sleep(0.5)
    assert await limits.throttle.hit("k", 1, 0.3) == Allowed(0)


# ----- the replay guard ---------------------------------------------------------------------

async def test_a_key_is_new_once_until_it_is_forgotten(limits: Limits) -> None:
    results = await asyncio.gather(*(limits.replay.first_time("tg-update:1:77", 60)
                                     for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]  # one caller only, even in parallel
    assert await limits.replay.first_time("tg-update:1:78", 60)
    assert await limits.replay.first_time("short", 0.3)
    await asyncio.sleep(0.5)
    assert await limits.replay.first_time("short", 0.3)  # remembered only for its ttl


async def test_a_key_redis_lost_is_still_refused(redis_server: RedisServer,
                                                redis_limits: RedisLimits) -> None:
    assert await redis_limits.replay.first_time("tg-update:1:99", 60)
    assert redis_server.command("FLUSHALL") == "+OK"  # as a Redis restart would
    assert not await redis_limits.replay.first_time("tg-update:1:99", 60)  # the database knew


# ----- the chat rate limiter ----------------------------------------------------------------

async def test_a_chat_limiter_allows_a_burst_then_tells_the_user_once(limits: Limits) -> None:
    limiter = limits.chat_limiter("telegram:1", 3, 0.5)
    verdicts = [await limiter.take("42") for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert [v.warn for v in verdicts[3:]] == [True, False]  # a flood is answered once
    assert 1.5 <= verdicts[3].retry_after <= 2.0  # one token at 0.5/s
    assert (await limiter.take("43")).allowed  # per key


async def test_a_chat_limiter_takes_what_an_action_costs(limits: Limits) -> None:
    # the work allowance of chat/limits.py: 3 job starts; an upload costs a quarter
    limiter = limits.chat_limiter("telegram:1:work", 3, 0.01)
    uploads = [await limiter.take("42", 0.25) for _ in range(8)]  # two starts' worth
    assert all(v.allowed for v in uploads)
    assert (await limiter.take("42", 1.0)).allowed
    refused = await limiter.take("42", 1.0)
    assert not refused.allowed and refused.warn
    assert 99 <= refused.retry_after <= 100  # one whole start at 0.01/s
    assert not (await limiter.take("42", 0.25)).allowed  # a refusal took nothing, none left
    dear = limits.chat_limiter("telegram:1:dear", 2, 0.01)
    assert (await dear.take("42", 5.0)).allowed  # dearer than the bucket: a full one pays


async def test_chat_allowances_are_shared_between_processes(
        redis_limits: RedisLimits, db: Database, redis_url: str) -> None:
    other = RedisLimits(db, redis_url)  # a second process of the same bot
    try:
        one, two = (ChatLimits(limits, "telegram:1", burst=2, per_minute=0.6, flood_burst=5)
                    for limits in (redis_limits, other))
        starts = [await (one if n % 2 else two).spend("42", START) for n in range(3)]
        uploads = [await (one if n % 2 else two).spend("43", UPLOAD) for n in range(9)]
        reads = [await (one if n % 2 else two).message("42") for n in range(6)]
    finally:
        await other.close()
    assert [v.allowed for v in starts] == [True, True, False]
    assert sum(v.allowed for v in uploads) == 8  # two starts' worth, across both
    assert [v.allowed for v in reads] == [True] * 5 + [False]  # reads: the flood cap only


async def test_chat_buckets_are_shared_between_processes(redis_limits: RedisLimits,
                                                         db: Database, redis_url: str) -> None:
    other = RedisLimits(db, redis_url)  # a second process
    try:
        one = redis_limits.chat_limiter("telegram:1", 4, 0.01)
        two = other.chat_limiter("telegram:1", 4, 0.01)
        verdicts = [await (one if n % 2 else two).take("42") for n in range(8)]
        assert sum(v.allowed for v in verdicts) == 4  # not 4 in each process
    finally:
        await other.close()


# ----- send pacing --------------------------------------------------------------------------

async def test_a_pacer_lets_one_progress_edit_a_chat_per_interval(limits: Limits) -> None:
    pacer = limits.pacer("telegram:1", PaceLimits(60))
    assert [await pacer.try_send("7") for _ in range(3)] == [True, False, False]
    assert await pacer.try_send("8")  # per chat


async def test_a_429_pauses_a_chat(limits: Limits) -> None:
    pacer = limits.pacer("telegram:1", PaceLimits(0))
    await pacer.pause("7", 60)
    assert not await pacer.try_send("7")
    assert not await pacer.try_send("7", interval=False)
    assert await pacer.try_send("8")


async def test_pacing_is_shared_between_processes(redis_limits: RedisLimits, db: Database,
                                                  redis_url: str) -> None:
    other = RedisLimits(db, redis_url)
    try:
        limits = PaceLimits(60, per_group_minute=20, per_second=30)
        one, two = redis_limits.pacer("telegram:1", limits), other.pacer("telegram:1", limits)
        sent = [await (one if n % 2 else two).try_send("7") for n in range(10)]
        assert sent.count(True) == 1  # one edit per interval for the chat, across both
        await one.pause("9", 60)  # a 429 seen by one process holds the chat for the other
        assert not await two.try_send("9")
    finally:
        await other.close()


async def test_a_group_gets_at_most_20_messages_a_minute(redis_limits: RedisLimits) -> None:
    pacer = redis_limits.pacer("telegram:1", PaceLimits(0, per_group_minute=20, per_second=1000))
    sent = [await pacer.try_send("-100", group=True) for _ in range(25)]
    assert sent.count(True) == 20
    assert await pacer.try_send("-101", group=True)  # another group


async def test_the_bot_sends_at_most_its_rate_in_all(redis_limits: RedisLimits) -> None:
    pacer = redis_limits.pacer("telegram:2", PaceLimits(0, per_second=30))
    sent = await asyncio.gather(*(pacer.try_send(str(chat)) for chat in range(50)))
    assert 30 <= sent.count(True) <= 60  # 30 per one-second window (two if it turns over)
    assert sent.count(True) < 50


async def test_a_result_waits_for_its_turn_then_goes(redis_limits: RedisLimits) -> None:
    pacer = redis_limits.pacer("telegram:1", PaceLimits(0.3))
    assert await pacer.try_send("7")
    await pacer.before_send("7", wait=5)  # returns once the chat's interval is over
    assert not await pacer.try_send("7")  # the result claimed the slot
    await pacer.pause("7", 60)
    await pacer.before_send("7", wait=0.2)  # paused longer than it may wait: goes anyway


# ----- Redis stopping in the middle ---------------------------------------------------------

async def test_redis_stopping_mid_window_falls_back_and_still_limits(
    redis_server: RedisServer, redis_limits: RedisLimits, caplog: pytest.LogCaptureFixture,
) -> None:
    assert isinstance(await redis_limits.throttle.hit("signup:x", 3, 600), Allowed)
    assert await redis_limits.replay.first_time("discord:1", 60)
    redis_server.stop()
    with caplog.at_level(logging.INFO, logger="stationthis.core.redis_limits"):
        verdicts = [await redis_limits.throttle.hit("signup:x", 3, 600) for _ in range(4)]
        assert [isinstance(v, Allowed) for v in verdicts] == [True, True, True, False]
        assert await redis_limits.replay.first_time("discord:2", 60)
        assert not await redis_limits.replay.first_time("discord:2", 60)
        limiter = redis_limits.chat_limiter("telegram:1", 2, 0.01)
        assert [(await limiter.take("42")).allowed for _ in range(3)] == [True, True, False]
        pacer = redis_limits.pacer("telegram:1", PaceLimits(60))
        assert [await pacer.try_send("7") for _ in range(2)] == [True, False]
        await pacer.pause("8", 60)
        assert not await pacer.try_send("8")
        await pacer.before_send("9", wait=5)  # no error, no wait
    downs = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(downs) == 1 and downs[0].levelno == logging.WARNING  # once per outage

    redis_server.start()
    await asyncio.sleep(1.1)  # Redis is tried again at most once a second
    with caplog.at_level(logging.INFO, logger="stationthis.core.redis_limits"):
        assert await redis_limits.replay.first_time("discord:3", 60)
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    assert await redis_limits.throttle.hit("signup:y", 1, 600) == Allowed(0)


async def test_sign_in_backoff_holds_with_redis_and_when_it_stops(
    make_settings: Callable[..., Settings], redis_server: RedisServer, redis_url: str,
) -> None:
    settings = make_settings(redis_url=redis_url)
    # two builds on one database and one Redis: two web nodes behind a load balancer
    one, two = build(settings, engine=ScriptedEngine()), build(settings, engine=ScriptedEngine())
    try:
        await one.auth.sign_up("alice", PASSWORD)
        free = settings.web.signin_free_failures
        for n in range(free):
            with pytest.raises(BadCredentials):
                await (one if n % 2 else two).auth.sign_in("alice", "wrong", "203.0.113.7")
        with pytest.raises(BadCredentials):  # past the free ones: checked, and locks
            await two.auth.sign_in("alice", "wrong again", "203.0.113.7")
        # ... the lock is in Redis, and both nodes see it
        assert redis_server.command("KEYS", "stationthis:signin:*") == "*1"
        with pytest.raises(TooManyAttempts):
            await one.auth.sign_in("alice", PASSWORD, "203.0.113.7")

        redis_server.stop()
        # Redis gone: the database counts instead. No error beyond the answer itself, and
        # guessing goes on being limited.
        outcomes = []
        for n in range(free + 3):
            try:
                await (one if n % 2 else two).auth.sign_in("alice", f"guess {n}", "203.0.113.7")
            except (BadCredentials, TooManyAttempts) as exc:
                outcomes.append(type(exc).__name__)
        # the free ones, then the one that locks, then refusals
        assert outcomes.count("BadCredentials") == free + 1
        assert outcomes[free + 1:] == ["TooManyAttempts"] * 2
        # sign-ups from one address stay limited too
        refused = 0
        for n in range(settings.web.signups_per_hour + 1):
            try:
                await one.auth.sign_up(f"user{n}", PASSWORD, client="198.51.100.9")
            except TooManyAttempts:
                refused += 1
        assert refused == 1
    finally:
        await one.stop()
        await two.stop()
