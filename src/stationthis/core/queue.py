"""The job queue port: what workflows call when a job becomes runnable.

The queue carries no state of its own: a job's truth is its row, and workers claim rows
(``core/leases.py``). ``enqueue`` only wakes a worker sooner — the local one
(``core/worker.Worker``) or, on a web node, the others (``core/worker.WakeOnly``).
"""

from __future__ import annotations

from typing import Protocol


class JobQueue(Protocol):
    async def enqueue(self, job_id: str) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
