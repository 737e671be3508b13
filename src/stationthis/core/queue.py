"""The job queue port and its taskiq implementation.

The queue only carries job ids: a job's truth is its row, so a lost queue message is
recovered by ``JobRunner.reconcile`` at the next start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from taskiq import AsyncBroker, InMemoryBroker

TASK_NAME = "stationthis.run_job"


class JobQueue(Protocol):
    async def enqueue(self, job_id: str) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class TaskiqJobQueue:
    def __init__(
        self, broker: AsyncBroker, run: Callable[[str], Awaitable[None]], max_running: int = 10
    ) -> None:
        self.broker = broker
        # The in-memory broker starts every task at once: our own limit keeps at most
        # ``max_running`` jobs talking to engines; the rest wait here, still "queued".
        slots = asyncio.Semaphore(max_running)

        async def run_job(job_id: str) -> None:
            async with slots:
                await run(job_id)

        self._task = broker.register_task(run_job, task_name=TASK_NAME)

    @classmethod
    def in_memory(cls, run: Callable[[str], Awaitable[None]], max_running: int) -> TaskiqJobQueue:
        return cls(InMemoryBroker(max_async_tasks=max_running), run, max_running)

    async def enqueue(self, job_id: str) -> None:
        await self._task.kiq(job_id)

    async def start(self) -> None:
        await self.broker.startup()

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop; jobs still running after the grace period are picked up again by
        ``JobRunner.reconcile`` at the next start."""
        if isinstance(self.broker, InMemoryBroker):
            running = set(self.broker._running_tasks)
            if running:
                _, late = await asyncio.wait(running, timeout=grace_seconds)
                for task in late:
                    task.cancel()
                if late:  # taskiq may swallow the cancel: never wait for them forever
                    await asyncio.wait(late, timeout=1.0)
        await self.broker.shutdown()
