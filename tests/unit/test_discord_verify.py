"""Discord request signatures, custom ids, the slash command definitions and the settings."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from stationthis.config import Settings
from stationthis.platforms.discord.commands import commands
from stationthis.platforms.discord.ids import pack, unpack
from stationthis.platforms.discord.verify import Verifier


def keypair() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    return key, key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def test_signatures_over_timestamp_and_body() -> None:
    key, public = keypair()
    now = 1_700_000_000.0
    verifier = Verifier(public, clock=lambda: now)
    body = b'{"type":1}'
    good = key.sign(b"1700000000" + body).hex()
    assert verifier.check(good, "1700000000", body) is None
    assert verifier.check(good, "1700000001", body) == "bad signature"
    assert verifier.check(good, "1700000000", body + b" ") == "bad signature"
    assert verifier.check(None, "1700000000", body) == "missing signature headers"
    assert verifier.check("zz", "1700000000", body) == "malformed signature headers"
    assert verifier.check(good, "soon", body) == "malformed signature headers"
    late = Verifier(public, clock=lambda: now + 301)
    assert late.check(good, "1700000000", body) == "stale timestamp"


def test_only_whole_seconds_near_now_are_fresh() -> None:
    """``nan`` compares false with everything, so it used to pass the freshness check; a
    timestamp must be whole Unix seconds within the window."""
    key, public = keypair()
    verifier = Verifier(public, clock=lambda: 1_700_000_000.0)
    body = b'{"type":2,"id":"1"}'
    for odd in ("nan", "NaN", "inf", "-inf", "1e9", "1700000000.0", "-1700000000", " 1700000000",
                "1700000000\n", "abc", "", "١٧٠٠٠٠٠٠٠٠", "9" * 40):
        signature = key.sign(odd.encode() + body).hex()  # signed: only the time is wrong
        assert verifier.check(signature, odd, body) is not None, odd
    for fresh in ("1699999700", "1700000300"):
        assert verifier.check(key.sign(fresh.encode() + body).hex(), fresh, body) is None
    for stale in ("1699999699", "1700000301", "0"):
        signature = key.sign(stale.encode() + body).hex()
        assert verifier.check(signature, stale, body) == "stale timestamp"


def test_custom_ids_carry_ids_within_100_characters() -> None:
    job = "a" * 32
    assert unpack(pack("r", job)) == ("r", [job])
    assert unpack(pack("tc", job, "100")) == ("tc", [job, "100"])
    assert unpack("zz") == ("zz", [])
    with pytest.raises(ValueError):
        pack("x", "y" * 100)
    with pytest.raises(ValueError):
        pack("x", "a:b")


def test_command_definitions_follow_discord_rules() -> None:
    found = commands()
    names = [c["name"] for c in found]
    assert len(names) == len(set(names))
    for command in found:
        if command.get("type") in (2, 3):  # user and message commands: a name only
            assert command["description"] == "" and "options" not in command
            assert 1 <= len(command["name"]) <= 32
            continue
        assert 1 <= len(command["description"]) <= 100
        groups = [command["options"], *[o.get("options", []) for o in command["options"]]]
        for options in groups:
            assert len(options) <= 25
            required = [o.get("required", False) for o in options if o["type"] not in (1, 2)]
            assert required == sorted(required, reverse=True), command["name"]


def test_discord_settings(make_settings: Callable[..., Settings]) -> None:
    _, public = keypair()
    on = make_settings(discord_application_id="1", discord_public_key=public,
                       discord_bot_token="secret-token")
    assert on.discord_enabled and on.discord_api_url == "https://discord.com/api/v10"
    assert "secret-token" not in repr(on)
    assert not make_settings(discord_application_id="1").discord_enabled
    with pytest.raises(ValueError, match="64 hex"):
        make_settings(discord_public_key="abc")
