"""The Engine port: what every generation/training backend implements.

Engines are driven by the job runner. A run is identified by our job id, so ``submit`` is
idempotent: submitting the same job twice must not run it twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class ImageInput:
    """An input image handed to an engine (already through the hardened loader)."""

    data: bytes
    media_type: str = "image/png"


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    tool: str
    category: str  # txt2img, img2img, upscale, rmbg, train, ...
    params: dict[str, Any]
    graph: dict[str, Any] | None = None  # the filled ComfyUI API-format graph, if any
    images: dict[str, ImageInput] = field(default_factory=dict)  # input name -> image
    # Extra blobs an engine may need (e.g. a trained style/LoRA file), by name.
    assets: dict[str, bytes] = field(default_factory=dict)
    # Where each public input lives in ``graph``: name -> (node id, field). Engines fill image
    # inputs through it and name the user's input when the backend rejects a graph field.
    bindings: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunHandle:
    engine: str
    job_id: str
    run_id: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Artifact:
    """One output of a run: an image (or a trained model file)."""

    data: bytes
    media_type: str
    name: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineEvent:
    """What a run reports. ``queued`` may carry ``extra["run_data"]``: the engine moved the
    run (e.g. to another server) and the job should remember the new location."""

    kind: Literal["queued", "started", "progress", "preview", "done", "error", "cancelled"]
    step: int | None = None
    total: int | None = None
    node: str | None = None
    message: str | None = None
    preview: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineHealth:
    ok: bool
    name: str
    detail: str = ""
    load: int = 0


@runtime_checkable
class Engine(Protocol):
    name: str

    async def submit(self, job: JobSpec) -> RunHandle: ...

    def events(self, handle: RunHandle) -> AsyncIterator[EngineEvent]: ...

    async def result(self, handle: RunHandle) -> list[Artifact]:
        """The outputs of a finished run. Raises ``EngineFailed`` if it failed and
        ``RunLost`` if the engine no longer knows the run."""
        ...

    async def cancel(self, handle: RunHandle) -> None: ...

    async def health(self) -> EngineHealth: ...
