"""What a log line is about: the request, the job and the user, carried in context variables.

The web app binds ``request_id`` (and ``user_id`` once the caller is known) for each
request; the job runner binds ``job_id`` and ``user_id`` for each job. Every log record
made meanwhile carries them (``stationthis.logs.ContextFilter``), whatever logger made it.
Context variables follow asyncio tasks: a task started inside a request or job inherits
its ids.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

FIELDS = ("request_id", "job_id", "user_id")
_vars: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"stationthis_{name}", default=None) for name in FIELDS
}


def current() -> dict[str, str]:
    """The ids bound now (only those that are set)."""
    return {name: value for name, var in _vars.items() if (value := var.get()) is not None}


def bind(**ids: str | None) -> None:
    """Set ids for the rest of this task (and the tasks it starts)."""
    for name, value in ids.items():
        _vars[name].set(value)


@contextlib.contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """Set ids for a block, then restore what was there."""
    tokens = [(_vars[name], _vars[name].set(value)) for name, value in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
