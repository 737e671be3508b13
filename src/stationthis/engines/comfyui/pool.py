"""A pool of ComfyUI servers: health checks, model inventory, least-loaded routing.

A server is checked with ``/system_stats`` (and ``/queue`` for its load) when it is first
used, whenever its last check is older than ``check_every`` seconds, and at once after any
request to it fails. A server that is down is skipped and looked at again later, so it comes
back by itself when it is healthy again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stationthis.core.engine import ServerInfo
from stationthis.core.errors import EngineFailed
from stationthis.engines.comfyui.client import ComfyClient, ServerUnavailable
from stationthis.engines.comfyui.http import Http, HttpStatus
from stationthis.engines.comfyui.socket import ServerSocket

log = logging.getLogger(__name__)

# Loader nodes and the model folder their file input refers to.
MODEL_INPUTS = {
    "CheckpointLoaderSimple": ("ckpt_name", "checkpoints"),
    "UpscaleModelLoader": ("model_name", "upscale_models"),
    "LoraLoader": ("lora_name", "loras"),
    "LoraLoaderModelOnly": ("lora_name", "loras"),
    "VAELoader": ("vae_name", "vae"),
    "ControlNetLoader": ("control_net_name", "controlnet"),
    "CLIPVisionLoader": ("clip_name", "clip_vision"),
    "StyleModelLoader": ("style_model_name", "style_models"),
}


def required_models(graph: dict[str, Any]) -> dict[str, set[str]]:
    """Model files a graph needs, by folder."""
    needed: dict[str, set[str]] = {}
    for node in graph.values():
        spec = MODEL_INPUTS.get(str(node.get("class_type")))
        if spec is None:
            continue
        value = node.get("inputs", {}).get(spec[0])
        if isinstance(value, str):
            needed.setdefault(spec[1], set()).add(value)
    return needed


@dataclass
class Server:
    url: str
    client: ComfyClient
    socket: ServerSocket
    healthy: bool = False
    checked_at: float = 0.0
    load: int = 0  # prompts queued or running there, as last seen
    in_flight: int = 0  # prompts we submitted that have not finished
    error: str = ""
    models: dict[str, set[str]] = field(default_factory=dict)
    object_info: dict[str, Any] | None = None
    version: str = ""
    _queue: tuple[float, set[str]] = (0.0, set())
    _queue_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def active_prompts(self, newer_than: float) -> set[str]:
        """Ids running or pending there, from one ``/queue`` read shared by every job on
        this server and asked after ``newer_than`` (monotonic). Thousands of silent jobs
        then cost one request per silence check, not one each."""
        async with self._queue_lock:
            taken, ids = self._queue
            if taken <= newer_than or time.monotonic() - taken > 1.0:
                asked = time.monotonic()  # it lists every prompt queued before it was asked
                running, pending = await self.client.queue()
                ids = set(running) | set(pending)
                self._queue = (asked, ids)
                self.load = len(ids)
            return ids

    @property
    def score(self) -> int:
        return max(self.load, self.in_flight)


class ServerPool:
    def __init__(
        self, urls: Iterable[str], *, client_id: str, http: Http | None = None,
        check_every: float = 10.0,
    ) -> None:
        self.http = http or Http()
        self.servers = [
            Server(url.rstrip("/"), ComfyClient(url, self.http), ServerSocket(url, client_id))
            for url in urls
        ]
        if not self.servers:
            raise ValueError("a ComfyUI pool needs at least one server URL")
        self.check_every = check_every
        self._lock = asyncio.Lock()

    def by_url(self, url: str) -> Server:
        for server in self.servers:
            if server.url == url.rstrip("/"):
                return server
        # A job from before a configuration change: talk to its server all the same.
        server = Server(url.rstrip("/"), ComfyClient(url, self.http),
                        ServerSocket(url, self.servers[0].socket.url.rsplit("=", 1)[1]))
        self.servers.append(server)
        return server

    async def check(self, server: Server) -> bool:
        try:
            stats = await server.client.system_stats()
            running, pending = await server.client.queue()
            if server.object_info is None:
                server.object_info = await server.client.object_info()
        except (ServerUnavailable, HttpStatus, ValueError) as exc:
            if server.healthy:
                log.warning("ComfyUI server %s is down: %s", server.url, exc)
            server.healthy, server.error = False, str(exc)
        else:
            if not server.healthy and server.checked_at:
                log.info("ComfyUI server %s is back", server.url)
            server.healthy, server.error = True, ""
            server.load = len(running) + len(pending)
            server.models.clear()  # listed again when next needed: models are added live
            server.version = str(stats.get("system", {}).get("comfyui_version", ""))
        server.checked_at = time.monotonic()
        return server.healthy

    def mark_down(self, server: Server, reason: str) -> None:
        server.healthy, server.error, server.checked_at = False, reason, time.monotonic()

    async def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        stale = [s for s in self.servers if force or now - s.checked_at > self.check_every]
        if stale:
            await asyncio.gather(*(self.check(s) for s in stale))

    async def has_models(self, server: Server, needed: dict[str, set[str]]) -> list[str]:
        """The files in ``needed`` that ``server`` does not have."""
        missing = []
        for folder, names in needed.items():
            if folder not in server.models:
                try:
                    server.models[folder] = set(await server.client.models(folder))
                except (ServerUnavailable, HttpStatus, ValueError):
                    return sorted(names)
            missing += sorted(names - server.models[folder])
        return missing

    async def choose(
        self, needed: dict[str, set[str]], exclude: Iterable[Server] = (),
        nodes: Iterable[str] = (),
    ) -> Server:
        """The least-loaded healthy server that has every model ``needed`` (and every node
        class in ``nodes``; a mapping also says what each is needed for)."""
        async with self._lock:
            await self.refresh()
            skip = {s.url for s in exclude}
            healthy = [s for s in self.servers if s.healthy and s.url not in skip]
            if not healthy:
                await self.refresh(force=True)  # maybe one came back just now
                healthy = [s for s in self.servers if s.healthy and s.url not in skip]
            if not healthy:
                raise EngineFailed(
                    "no ComfyUI server is reachable right now; nothing was charged — "
                    "try again later"
                )
            wanted_nodes = sorted(set(nodes))
            if wanted_nodes:
                capable = [s for s in healthy
                           if all(n in (s.object_info or {}) for n in wanted_nodes)]
                if not capable:
                    lacking = next(n for n in wanted_nodes
                                   if any(n not in (s.object_info or {}) for s in healthy))
                    purpose = nodes.get(lacking) if isinstance(nodes, Mapping) else None
                    why = f" (needed for {purpose})" if purpose else ""
                    raise EngineFailed(
                        f"this server lacks the node {lacking!r}{why}; nothing was charged"
                    )
                healthy = capable
            fits: list[Server] = []
            missing_any: list[str] = []
            for server in healthy:
                missing = await self.has_models(server, needed)
                if missing:
                    missing_any = missing
                else:
                    fits.append(server)
            if not fits:
                raise EngineFailed(
                    f"no ComfyUI server has the model {missing_any[0]!r} this tool needs"
                )
            best = min(fits, key=lambda s: s.score)
            best.in_flight += 1
            return best

    async def check_graph(self, graph: dict[str, Any]) -> dict[str, list[str]]:
        """What each healthy server lacks to run ``graph``: node classes and model files."""
        await self.refresh()
        report: dict[str, list[str]] = {}
        for server in self.servers:
            if not server.healthy or server.object_info is None:
                continue
            problems = [
                f"node {node.get('class_type')!r} is not installed"
                for node in graph.values()
                if node.get("class_type") not in server.object_info
            ]
            problems += [f"model {name!r} is missing"
                         for name in await self.has_models(server, required_models(graph))]
            report[server.url] = problems
        return report

    def info(self) -> list[ServerInfo]:
        """Each server as last checked (no request is made)."""
        return [ServerInfo(s.url, bool(s.healthy), s.load, s.error,
                           {folder: len(names) for folder, names in s.models.items()})
                for s in self.servers]

    async def close(self) -> None:
        for server in self.servers:
            await server.socket.stop()
        await self.http.close()
