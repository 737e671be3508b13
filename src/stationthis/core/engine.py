"""The Engine port: what every generation/training backend implements.

Engines are driven by the job runner. A run is identified by our job id, so ``submit`` is
idempotent: submitting the same job twice must not run it twice.

Abilities beyond running jobs are *declared*: an engine lists its ``capabilities`` and a
caller checks the set (``require``/``has``), never probes for a method. Each ability that is
a method has its own small protocol below (``GraphChecker``, ``ServerLister``,
``WebhookReceiver``); ``METHODS`` says which method each needs, and a contract test checks
that every engine declares exactly what it implements.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, cast, runtime_checkable

from stationthis.core.errors import Unsupported


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


class Capability(StrEnum):
    """An optional ability of an engine."""

    TRAIN = "train"  # runs the training tool (category "train"): LoRA files, style profiles
    CHECK_GRAPH = "check_graph"  # check_graph(): what each server lacks to run a graph
    SERVERS = "servers"  # servers(): its backend servers, up or down, and their model files
    WEBHOOKS = "webhooks"  # receive_webhook(): run status pushed to us over HTTP
    LORA_FILES = "lora_files"  # lora_names(): the LoRA files its servers have


# The method each ability needs (abilities without one are kinds of job the engine runs).
METHODS: dict[Capability, str] = {
    Capability.CHECK_GRAPH: "check_graph",
    Capability.SERVERS: "servers",
    Capability.WEBHOOKS: "receive_webhook",
    Capability.LORA_FILES: "lora_names",
}

# How a missing ability is worded to a user or an operator: "the preview engine cannot …".
DOING: dict[Capability, str] = {
    Capability.TRAIN: "train models",
    Capability.CHECK_GRAPH: "check tools against its servers",
    Capability.SERVERS: "list backend servers",
    Capability.WEBHOOKS: "take run-status webhooks",
    Capability.LORA_FILES: "list its servers' LoRA files",
}


@dataclass(frozen=True)
class ServerInfo:
    """One backend server of an engine, as an operator sees it."""

    url: str
    up: bool
    load: int = 0
    error: str = ""
    models: dict[str, int] = field(default_factory=dict)  # folder -> model files known


@runtime_checkable
class Engine(Protocol):
    name: str
    capabilities: frozenset[Capability]

    async def submit(self, job: JobSpec) -> RunHandle: ...

    def events(self, handle: RunHandle) -> AsyncIterator[EngineEvent]: ...

    async def result(self, handle: RunHandle) -> list[Artifact]:
        """The outputs of a finished run. Raises ``EngineFailed`` if it failed and
        ``RunLost`` if the engine no longer knows the run."""
        ...

    async def cancel(self, handle: RunHandle) -> None: ...

    async def health(self) -> EngineHealth: ...

    async def aclose(self) -> None:
        """Release connections and workers; called once when the process stops."""
        ...


class GraphChecker(Protocol):
    async def check_graph(self, graph: dict[str, Any]) -> dict[str, list[str]]:
        """Per server: what it lacks to run ``graph`` (node classes, model files)."""
        ...


class ServerLister(Protocol):
    def servers(self) -> list[ServerInfo]: ...


class WebhookReceiver(Protocol):
    async def receive_webhook(self, token: str, body: bytes) -> None: ...


class LoraLister(Protocol):
    async def lora_names(self) -> list[str]:
        """The LoRA files the servers have (their loader's choices), each once."""
        ...


def has(engine: Engine, ability: Capability) -> bool:
    return ability in engine.capabilities


def require(engine: Engine, ability: Capability) -> None:
    """Refuse, with a message a user can read, what the configured engine cannot do."""
    if ability not in engine.capabilities:
        raise Unsupported(f"the {engine.name} engine cannot {DOING[ability]}",
                          engine=engine.name, capability=ability.value)


def graph_checker(engine: Engine) -> GraphChecker | None:
    return cast(GraphChecker, engine) if has(engine, Capability.CHECK_GRAPH) else None


def server_lister(engine: Engine) -> ServerLister | None:
    return cast(ServerLister, engine) if has(engine, Capability.SERVERS) else None


def webhook_receiver(engine: Engine) -> WebhookReceiver | None:
    return cast(WebhookReceiver, engine) if has(engine, Capability.WEBHOOKS) else None


def lora_lister(engine: Engine) -> LoraLister | None:
    return cast(LoraLister, engine) if has(engine, Capability.LORA_FILES) else None
