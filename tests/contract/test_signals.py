"""The Signals contract, against the in-process ``LocalSignals`` and ``RedisSignals`` on a real
redis-server; then what Redis alone must survive: being down, and restarting."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from stationthis.core.redis_signals import RedisSignals
from stationthis.core.signals import LocalSignals, Signals, Subscription
from tests.support.redis import RedisServer

QUIET = 0.3  # how long "nothing arrives" is watched for


@pytest.fixture(params=["local", "redis"])
async def signals(request: pytest.FixtureRequest) -> AsyncIterator[Signals]:
    made: Signals
    if request.param == "local":
        made = LocalSignals()
    else:
        made = RedisSignals(request.getfixturevalue("redis_url"))
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def redis_signals(redis_url: str) -> AsyncIterator[RedisSignals]:
    made = RedisSignals(redis_url)
    try:
        yield made
    finally:
        await made.close()


async def test_a_message_reaches_each_subscriber_of_its_channel(signals: Signals) -> None:
    async with signals.subscribe("job:1") as first, signals.subscribe("job:1", "wake") as both:
        await signals.publish("job:1", {"progress": {"step": 3}, "state": "running"})
        await signals.publish("wake", {})
        expected = ("job:1", {"progress": {"step": 3}, "state": "running"})
        assert await first.get(5) == expected
        assert await both.get(5) == expected
        assert await both.get(5) == ("wake", {})
        assert await first.get(QUIET) is None  # "wake" is not its channel


async def test_no_message_leaks_into_another_channel(signals: Signals) -> None:
    async with signals.subscribe("job:1") as one, signals.subscribe("job:2") as two:
        await signals.publish("job:2", {"n": 1})
        assert await two.get(5) == ("job:2", {"n": 1})
        assert await one.get(QUIET) is None


async def test_an_unsubscribed_subscriber_gets_nothing(signals: Signals) -> None:
    async with signals.subscribe("cancel") as gone:
        pass
    async with signals.subscribe("cancel") as still:
        await signals.publish("cancel", {"job_id": "j"})
        assert await still.get(5) == ("cancel", {"job_id": "j"})
    assert await gone.get(QUIET) is None


async def test_publishing_with_no_subscriber_is_fine(signals: Signals) -> None:
    await signals.publish("job:nobody", {"n": 1})
    assert await signals.ping()


async def test_redis_down_publishing_never_raises_and_ping_says_so(
    redis_server: RedisServer, redis_signals: RedisSignals, caplog: pytest.LogCaptureFixture,
) -> None:
    assert await redis_signals.ping()
    redis_server.stop()
    with caplog.at_level(logging.INFO, logger="stationthis.core.redis_signals"):
        for n in range(5):
            await redis_signals.publish("wake", {"n": n})  # no exception: only a lost signal
        assert not await redis_signals.ping()
        async with redis_signals.subscribe("wake") as sub:  # subscribing works too
            assert await sub.get(QUIET) is None
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()  # one per outage
        redis_server.start()
        assert await redis_signals.ping()
    assert any("reachable again" in r.getMessage() for r in caplog.records)


async def test_a_subscription_hears_again_after_redis_restarts(
    redis_server: RedisServer, redis_signals: RedisSignals
) -> None:
    async with redis_signals.subscribe("job:7") as sub:
        await redis_signals.publish("job:7", {"n": 0})
        assert await sub.get(5) == ("job:7", {"n": 0})
        redis_server.stop()
        assert await sub.get(QUIET) is None  # down: get() just times out
        redis_server.start()
        assert await _eventually_hears(redis_signals, sub, "job:7")


async def test_a_subscription_made_while_redis_is_down_hears_once_it_is_up(
    redis_server: RedisServer, redis_signals: RedisSignals
) -> None:
    redis_server.stop()
    async with redis_signals.subscribe("wake") as sub:
        redis_server.start()
        assert await _eventually_hears(redis_signals, sub, "wake")


async def _eventually_hears(signals: Signals, sub: Subscription, channel: str) -> bool:
    """Publish until the subscription hears one (the reader reconnects with backoff)."""
    for n in range(100):  # bounded: ~100 × 0.1 s, far more than the longest backoff
        await signals.publish(channel, {"n": n})
        got = await sub.get(0.1)
        if got is not None:
            assert got[0] == channel and isinstance(got[1]["n"], int)
            return True
    return False
