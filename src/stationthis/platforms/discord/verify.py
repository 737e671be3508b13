"""Discord signs every interaction: Ed25519 over ``timestamp + body`` with the application's
key. A request whose signature is missing or wrong, or whose timestamp is not whole Unix
seconds within a few minutes of now (a replay), is refused. (A replay within those minutes is
caught by the interaction id: see ``DiscordPlatform``.)"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNATURE_HEADER = "X-Signature-Ed25519"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
MAX_SKEW_SECONDS = 300.0
_SECONDS = re.compile(r"[0-9]{1,12}")  # Unix time in whole seconds, as Discord sends it


class Verifier:
    def __init__(self, public_key_hex: str, *, max_skew: float = MAX_SKEW_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        try:
            raw = bytes.fromhex(public_key_hex.strip())
            self.key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise ValueError("the Discord public key must be 64 hex characters") from None
        self.max_skew = max_skew
        self.clock = clock

    def check(self, signature: str | None, timestamp: str | None, body: bytes) -> str | None:
        """None when the request is Discord's; else why it is not (for the log)."""
        if not signature or not timestamp:
            return "missing signature headers"
        # Whole seconds only: "nan", "inf", "1e9" or "١٧٠٠" would slip past the freshness
        # check (every comparison with NaN is false) or mean something else.
        if not _SECONDS.fullmatch(timestamp):
            return "malformed signature headers"
        sent = int(timestamp)
        try:
            raw = bytes.fromhex(signature)
        except ValueError:
            return "malformed signature headers"
        if not abs(self.clock() - sent) <= self.max_skew:
            return "stale timestamp"
        try:
            self.key.verify(raw, timestamp.encode() + body)
        except InvalidSignature:
            return "bad signature"
        return None
