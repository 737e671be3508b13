"""The ComfyUI engine: runs a tool's graph on a pool of self-hosted ComfyUI servers.

Our job id is the ``prompt_id``, so a run is found again by id on its server. Progress comes
from the server's websocket; because that socket is lossy, silence or a dropped line makes us
ask ``/history`` and ``/queue`` what happened. One frame router per server socket hands
each prompt's frames to a small sink, one silence watch per server looks at ``/queue`` for all
of its jobs at once, and a finished job's images are the ones its ``executed`` frames named
(``/history`` only when the line dropped during the run or after our own restart).

A server that dies after accepting a job loses it (ComfyUI keeps its queue in memory): the run
is moved to another server, with the same id, at most ``max_moves`` times — it never runs
twice at once and never charges twice.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from stationthis.core.engine import (
    Artifact,
    Capability,
    EngineEvent,
    EngineHealth,
    JobSpec,
    RunHandle,
    ServerInfo,
)
from stationthis.core.errors import EngineFailed, RunLost
from stationthis.engines.comfyui import describe, loras, messages, training
from stationthis.engines.comfyui.client import PromptRejected, ServerUnavailable
from stationthis.engines.comfyui.frames import media_type, needed_nodes, output_images, translate
from stationthis.engines.comfyui.http import HttpStatus
from stationthis.engines.comfyui.pool import Server, ServerPool, required_models
from stationthis.engines.comfyui.socket import Sink, is_wake

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Run:
    job_id: str
    server: Server
    spec: JobSpec | None  # None when picked up again after our own restart
    kind: str = ""  # "describe": its output is text (kept in the handle, for a restart)
    moves: int = 0
    queued_at: float = 0.0  # monotonic time of the last POST /prompt
    cancelled: bool = False
    finished: bool = False
    error: str | None = None
    sink: Sink | None = None  # where the server's socket puts this run's frames


class ComfyUIEngine:
    name = "comfyui"
    capabilities = frozenset({Capability.TRAIN, Capability.CHECK_GRAPH, Capability.SERVERS,
                              Capability.LORA_FILES})

    def __init__(
        self, pool: ServerPool, *, client_id: str | None = None, silence_timeout: float = 10.0,
        down_grace: float = 30.0, max_moves: int = 2, result_wait: float = 30.0,
        loras_subfolder: str = "stationthis_loras",
    ) -> None:
        self.pool = pool
        self.client_id = client_id or uuid.uuid4().hex
        self.silence_timeout = silence_timeout
        self.down_grace = down_grace
        self.max_moves = max_moves
        self.result_wait = result_wait
        self.loras_subfolder = loras_subfolder  # input subfolder the servers list as loras
        self._runs: dict[str, _Run] = {}

    # ----- Engine protocol ---------------------------------------------------------------

    async def submit(self, job: JobSpec) -> RunHandle:
        run = self._runs.get(job.job_id)
        if run is None:
            server = await self._place(job, exclude=())
            run = self._runs[job.job_id] = _Run(
                job.job_id, server, job, "describe" if job.category == "describe" else "",
                queued_at=time.monotonic())
        return self._handle(run)

    async def events(self, handle: RunHandle) -> AsyncIterator[EngineEvent]:
        run = self._run(handle)
        sink = self._listen(run)
        try:
            verdict = None if run.spec is not None else await self._settle_verdict(run)
            while verdict is None:
                frame = await sink.get()
                if is_wake(frame):  # the line dropped, or silence and /queue lacks it
                    verdict = await self._settle_verdict(run)
                    if verdict == "moved":
                        yield EngineEvent("queued", message="moved to another ComfyUI server",
                                          extra={"run_data": self._handle(run).data})
                        sink = self._listen(run)
                        verdict = None
                    continue
                event = translate(frame)
                if event is not None and event.kind in ("error", "cancelled"):
                    self._finish(run)
                if event is not None:
                    yield event
                if frame.type in ("execution_success", "execution_error",
                                  "execution_interrupted"):
                    return
                if frame.type == "executing" and frame.data.get("node") is None:
                    verdict = await self._settle_verdict(run)
            yield self._final_event(verdict, run)
        finally:
            run.server.socket.unsubscribe(run.job_id, run.sink)

    async def result(self, handle: RunHandle) -> list[Artifact]:
        run = self._run(handle)
        client = run.server.client
        deadline = time.monotonic() + self.result_wait
        try:
            heard = self._heard_images(run)
            if heard:  # the executed frames named them: no GET /history
                return await self._fetch(run, heard)
            while (entry := await client.history(run.job_id)) is None:
                if time.monotonic() > deadline:
                    raise RunLost("ComfyUI finished the job but kept no record of it")
                await asyncio.sleep(0.1)
            error = messages.from_history(entry)
            if error is not None:
                raise EngineFailed(error)
            if messages.was_interrupted(entry):
                raise EngineFailed("cancelled")
            if training.saved_files(entry):
                return await training.fetch(client, run.job_id, entry, self._lora_meta(run))
            if run.kind == "describe" or (run.spec is None and describe.only_texts(entry)):
                found = describe.texts(entry)
                if not found:
                    raise EngineFailed("the describe workflow returned no text (it needs a "
                                       "ShowText|pysssss node after each Florence2Run)")
                return [describe.prompts_artifact(run.job_id, found, {"engine": self.name})]
            return await self._fetch(run, output_images([
                (str(node_id), image)
                for node_id, output in (entry.get("outputs") or {}).items()
                for image in (output.get("images", []) if isinstance(output, dict) else [])
            ]))
        except ServerUnavailable as exc:
            raise RunLost(f"the ComfyUI server went away before the images were fetched "
                          f"({exc})") from None
        finally:
            self._finish(run)

    async def cancel(self, handle: RunHandle) -> None:
        run = self._run(handle)
        run.cancelled = True
        try:
            await run.server.client.delete_queued(run.job_id)
            await run.server.client.interrupt(run.job_id)
        except ServerUnavailable:
            pass  # a dead server runs nothing; the verdict will say so

    async def health(self) -> EngineHealth:
        await self.pool.refresh(force=True)
        up = [s for s in self.pool.servers if s.healthy]
        parts = [f"{s.url} ({'up, load ' + str(s.score) if s.healthy else 'down'})"
                 for s in self.pool.servers]
        return EngineHealth(
            ok=bool(up), name=self.name,
            detail=f"ComfyUI: {len(up)}/{len(self.pool.servers)} servers up — " + ", ".join(parts),
            load=sum(s.score for s in up),
        )

    async def check_graph(self, graph: dict[str, Any]) -> dict[str, list[str]]:
        """What each healthy server lacks to run ``graph``: node classes and model files."""
        return await self.pool.check_graph(graph)

    async def lora_names(self) -> list[str]:
        """The LoRA files the healthy servers list (``LoraLoader``'s choices), each once."""
        await self.pool.refresh()
        found: dict[str, None] = {}
        for server in self.pool.servers:
            if not server.healthy:
                continue
            try:
                found.update(dict.fromkeys(await loras.server_files(server)))
            except (ServerUnavailable, HttpStatus, ValueError):
                continue  # a server that cannot answer lists nothing now
        return sorted(found)

    def servers(self) -> list[ServerInfo]:
        """Each server of the pool as last checked (no request is made)."""
        return self.pool.info()

    async def aclose(self) -> None:
        await self.pool.close()

    # ----- placing runs ------------------------------------------------------------------

    async def _place(self, job: JobSpec, exclude: tuple[Server, ...]) -> Server:
        """Send a job to the best server; on a dead server, try the next one."""
        if not job.graph:
            raise EngineFailed(f"the tool {job.tool!r} has no ComfyUI workflow")
        needed = required_models(job.graph)
        for file_name in loras.server_wanted(job.params).values():  # the servers' own LoRAs
            needed.setdefault("loras", set()).add(file_name)
        nodes = needed_nodes(job)
        tried = list(exclude)
        while True:
            server = await self.pool.choose(needed, exclude=tried, nodes=nodes)
            try:
                await self._queue_on(server, job)
                return server
            except EngineFailed:
                server.in_flight -= 1
                raise
            except ServerUnavailable as exc:
                server.in_flight -= 1
                self.pool.mark_down(server, str(exc))
                tried.append(server)
            except PromptRejected as exc:
                server.in_flight -= 1
                raise EngineFailed(messages.rejected(exc.payload, job.bindings)) from None

    async def _queue_on(self, server: Server, job: JobSpec) -> None:
        assert job.graph is not None
        graph = copy.deepcopy(job.graph)
        # A training's images are its dataset (uploaded as a folder), not graph inputs.
        for name, image in ({} if training.is_training(job) else job.images).items():
            target = job.bindings.get(name)
            if target is None:
                raise EngineFailed(f"the tool does not say where the image {name!r} goes")
            uploaded = await server.client.upload_image(image.data, f"{job.job_id}_{name}.png")
            graph[target[0]]["inputs"][target[1]] = uploaded
        if training.is_training(job):
            await training.prepare(server.client, job, graph)
        await self._apply_loras(server, job, graph)
        # Listen before queueing: ComfyUI does not repeat frames we were not there for.
        sink = server.socket.subscribe(job.job_id, fresh=True)
        if not await server.socket.wait_connected(5.0):
            server.socket.unsubscribe(job.job_id, sink)
            raise ServerUnavailable(f"{server.url}: websocket did not connect")
        try:
            await server.client.queue_prompt(graph, prompt_id=job.job_id, client_id=self.client_id)
        except BaseException:
            server.socket.unsubscribe(job.job_id, sink)
            raise
        sink.since = time.monotonic()

    async def _apply_loras(self, server: Server, job: JobSpec, graph: dict[str, Any]) -> None:
        """The user's own LoRAs (``params["loras"]``, files in ``job.assets``) loaded in the
        graph after its checkpoint loader, each file made visible to the server first."""
        on_server = loras.server_wanted(job.params)  # the server's own files, by name
        wanted = [str(name) for name in job.params.get("loras") or []]
        if not wanted and not on_server:
            return
        scale = loras.strengths(job.params, wanted + [n for n in on_server if n not in wanted])
        own = [name for name in wanted if name not in on_server]
        names = await loras.make_available(server, job.assets, own, self.loras_subfolder)
        names.update(on_server)
        order = wanted + [n for n in on_server if n not in wanted]
        loras.insert_loras(graph, [(names[model], scale[model]) for model in order])

    def _lora_meta(self, run: _Run) -> dict[str, Any]:
        meta: dict[str, Any] = {"engine": self.name, "server": run.server.url}
        if run.spec is not None:
            for key in ("trigger", "steps", "rank", "base_model"):
                if key in run.spec.params:
                    meta[key] = run.spec.params[key]
        return meta

    async def _move(self, run: _Run, *, avoid_current: bool) -> bool:
        """Queue a lost run again: on another server when its own is down, else anywhere
        (a server that restarted and forgot the job is as good as any)."""
        if run.spec is None or run.cancelled or run.moves >= self.max_moves:
            return False
        old = run.server
        old.in_flight = max(0, old.in_flight - 1)
        old.socket.unsubscribe(run.job_id, run.sink)
        try:
            run.server = await self._place(run.spec, exclude=(old,) if avoid_current else ())
        except EngineFailed:
            return False
        run.queued_at = time.monotonic()
        run.moves += 1
        log.warning("job %s moved from %s to %s", run.job_id, old.url, run.server.url)
        return True

    # ----- verdicts ----------------------------------------------------------------------

    async def _verdict(self, run: _Run) -> str | None:
        """Ask the server: success | error | interrupted | lost | down; None = still going."""
        client = run.server.client
        try:
            if run.job_id in await run.server.active_prompts(newer_than=run.queued_at):
                return None
            entry = await client.history(run.job_id)
            if entry is not None:
                if messages.was_interrupted(entry):
                    return "interrupted"
                run.error = messages.from_history(entry)
                if run.error is not None:
                    return "error"
                return "success"
        except ServerUnavailable:
            return "down"
        return "lost"

    async def _settle_verdict(self, run: _Run) -> str | None:
        """A verdict, waiting out a dead server for ``down_grace`` and moving lost runs."""
        verdict = await self._verdict(run)
        deadline = time.monotonic() + self.down_grace
        while verdict == "down" and time.monotonic() < deadline:
            self.pool.mark_down(run.server, "unreachable during a job")
            await asyncio.sleep(0.5)
            verdict = await self._verdict(run)
        if verdict in ("lost", "down"):
            if run.cancelled:
                return "interrupted"
            if await self._move(run, avoid_current=verdict == "down"):
                return "moved"
        return verdict

    def _final_event(self, verdict: str | None, run: _Run) -> EngineEvent:
        if verdict == "success":
            return EngineEvent("done")
        if verdict == "interrupted":
            self._finish(run)
            return EngineEvent("cancelled")
        if verdict == "error":
            self._finish(run)
            return EngineEvent("error", message=run.error or "ComfyUI reported an error")
        self._finish(run)
        raise RunLost("the ComfyUI server lost this job (it restarted or went away)")

    # ----- bookkeeping -------------------------------------------------------------------

    def _handle(self, run: _Run) -> RunHandle:
        data = {"server": run.server.url} | ({"kind": run.kind} if run.kind else {})
        return RunHandle(self.name, run.job_id, run.job_id, data)

    def _run(self, handle: RunHandle) -> _Run:
        run = self._runs.get(handle.job_id)
        if run is None:  # picked up again after a restart of StationThis
            server_url = handle.data.get("server")
            if not server_url:
                raise RunLost("this job's ComfyUI server is not recorded")
            run = self._runs[handle.job_id] = _Run(
                handle.job_id, self.pool.by_url(str(server_url)), None,
                str(handle.data.get("kind") or ""))
        return run

    def _finish(self, run: _Run) -> None:
        if not run.finished:
            run.finished = True
            run.server.in_flight = max(0, run.server.in_flight - 1)
            self._runs.pop(run.job_id, None)

    def _listen(self, run: _Run) -> Sink:
        """The run's sink on its server's socket, with the reader and the silence watch on."""
        server = run.server
        run.sink = server.socket.subscribe(run.job_id, run.queued_at)
        server.socket.start()
        server.socket.watch_silence(server.active_prompts, self.silence_timeout)
        return run.sink

    def _heard_images(self, run: _Run) -> list[tuple[str, dict[str, Any]]]:
        """The images the run's ``executed`` frames named, when the socket heard the whole
        run (opened before it was queued, never dropped, ``execution_success`` seen)."""
        sink = run.sink
        if (sink is None or not sink.succeeded or not sink.images or run.spec is None
                or training.is_training(run.spec)):
            return []
        return output_images(sink.images)

    async def _fetch(
        self, run: _Run, images: list[tuple[str, dict[str, Any]]]
    ) -> list[Artifact]:
        artifacts = []
        for node_id, image in images:
            data = await run.server.client.view(
                image["filename"], image.get("subfolder", ""), image.get("type", "output")
            )
            artifacts.append(Artifact(data, media_type(image["filename"]), image["filename"],
                                      meta={"node": node_id, "server": run.server.url}))
        return artifacts
