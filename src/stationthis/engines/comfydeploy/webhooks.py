"""Webhook tokens and bodies for ComfyUI Deploy.

ComfyUI Deploy signs nothing, so we make the webhook URL itself the credential: every run gets
``{webhook_base}/{job_id}.{mac}`` with ``mac = HMAC-SHA256(secret, job_id)`` (first 32 hex
digits, 128 bits). Only someone who was given that URL — the service — can address a webhook
to a job, and a token for one job says nothing about another.

Even a well-signed webhook is only a *hint*: its status is never applied. The engine reads the
run from the API (with our key) when one arrives, so a replayed or forged body cannot fake a
success, a failure or a regression. This module checks who may knock; the engine decides what
is true.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from stationthis.core.errors import Forbidden, InvalidInput

MAC_HEX_DIGITS = 32
MAX_BODY_BYTES = 1024 * 1024


def mac(secret: bytes, job_id: str) -> str:
    digest = hmac.new(secret, job_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:MAC_HEX_DIGITS]


def make_token(secret: bytes, job_id: str) -> str:
    if not secret:
        raise ValueError("a webhook secret is required to sign webhook URLs")
    return f"{job_id}.{mac(secret, job_id)}"


def verify_token(secret: bytes, token: str) -> str:
    """The job id a token was issued for; ``Forbidden`` when the token is not ours."""
    job_id, dot, given = token.rpartition(".")
    if not secret or not dot or not job_id:
        raise Forbidden("bad webhook signature")
    expected = mac(secret, job_id)
    # Compare as bytes so that non-ASCII junk is refused rather than raising TypeError.
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
        raise Forbidden("bad webhook signature")
    return job_id


@dataclass(frozen=True)
class WebhookBody:
    run_id: str
    status: str
    live_status: str | None


def parse_body(body: bytes) -> WebhookBody:
    """The fields we read from a webhook body; ``InvalidInput`` when it is not one."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidInput("the webhook body is too large")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the webhook body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the webhook body is not a JSON object")
    run_id, status = data.get("run_id"), data.get("status")
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInput("the webhook body has no run_id")
    if not isinstance(status, str) or not status:
        raise InvalidInput("the webhook body has no status")
    live = data.get("live_status")
    return WebhookBody(run_id, status, live if isinstance(live, str) else None)
