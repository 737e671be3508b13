"""Discord signs every interaction: Ed25519 over ``timestamp + body`` with the application's
key. A request whose signature is missing or wrong, or whose timestamp is too far from now
(a replay), is refused."""

from __future__ import annotations

import time
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNATURE_HEADER = "X-Signature-Ed25519"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
MAX_SKEW_SECONDS = 300.0


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
        try:
            sent = float(timestamp)
            raw = bytes.fromhex(signature)
        except ValueError:
            return "malformed signature headers"
        if abs(self.clock() - sent) > self.max_skew:
            return "stale timestamp"
        try:
            self.key.verify(raw, timestamp.encode() + body)
        except InvalidSignature:
            return "bad signature"
        return None
