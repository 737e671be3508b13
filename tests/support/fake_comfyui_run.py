"""One prompt's execution inside the fake ComfyUI server, with the scripted faults applied."""

from __future__ import annotations

import asyncio
import copy
import json
import posixpath
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.support.fake_comfyui_describe import SHOW_TEXT, caption
from tests.support.fake_comfyui_media import (
    FORMAT_PNG,
    colour_for,
    graph_image_size,
    preview_frame,
    preview_frame_with_metadata,
    render_jpeg,
    render_png,
)
from tests.support.fake_comfyui_nodes import (
    JSON,
    PROGRESS_NODES,
    SAVE_NODES,
    WEBSOCKET_SAVE,
    execution_order,
    is_link,
)
from tests.support.fake_comfyui_training import dataset, lora_file, saved_lora_name

TRAINING_NODES = ("LoadImageTextDataSetFromFolder", "TrainLoraNode", "SaveLoRA")

if TYPE_CHECKING:
    from tests.support.fake_comfyui import FakeComfyUI


@dataclass
class Behaviour:
    """How the fake runs one prompt. ``frames`` counts every frame the run emits."""

    steps: int = 3  # progress frames per sampling node (KSampler, ImageUpscaleWithModel)
    step_delay: float = 0.01
    fail_node: str | None = None  # runtime execution_error at this node
    exception_message: str = "Fake failure injected by the test"
    exception_type: str = "RuntimeError"
    validation_error: JSON | None = None  # POST /prompt answers 400 (see scripted_validation_error)
    drop_socket_after: int | None = None  # abort every websocket after N frames; run goes on
    silent: bool = False  # no frames at all, but the prompt still finishes in history
    hang: bool = False  # blocks (in the first sampling node, else the first node) until interrupted
    die_after_frames: int | None = None  # the whole server crashes after N frames
    outputs: int = 1  # images per output node
    image_size: tuple[int, int] | None = None  # default: from the graph (see graph_image_size)
    preview: bool = False  # a preview image frame after each progress frame
    lose_lora: bool = False  # SaveLoRA runs but no file is left in the output folder


@dataclass
class QueueItem:
    number: float
    prompt_id: str
    graph: JSON
    extra_data: JSON
    outputs: list[str]
    behaviour: Behaviour

    def row(self) -> list[Any]:
        """The ``[number, id, graph, extra_data, outputs]`` row of /queue and /history."""
        return [self.number, self.prompt_id, self.graph, self.extra_data, self.outputs]

    @property
    def client_id(self) -> str | None:
        client = self.extra_data.get("client_id")
        return None if client is None else str(client)


class ServerDied(Exception):
    """Raised inside a run when ``die_after_frames`` is reached."""


class _Stopped(Exception):
    def __init__(self, node_id: str, interrupted: bool) -> None:
        super().__init__(node_id)
        self.node_id, self.interrupted = node_id, interrupted


def _now() -> int:
    return int(time.time() * 1000)


class PromptRun:
    def __init__(self, server: FakeComfyUI, item: QueueItem) -> None:
        self.server, self.item, self.behaviour = server, item, item.behaviour
        self.pid = item.prompt_id
        self.frames = 0
        self.messages: list[list[Any]] = []
        self.executed: list[str] = []
        self.ui: JSON = {}
        self.states: JSON = {}
        order = execution_order(item.graph, item.outputs)
        samplers = [nid for nid in order
                    if self._class(nid) in PROGRESS_NODES or self._class(nid) == "TrainLoraNode"]
        self.order, self.hang_node = order, (samplers or order)[0]
        self.size = self.behaviour.image_size or graph_image_size(item.graph, server.uploads)
        self.colour = colour_for(self.pid)
        self.training_set: list[tuple[bytes, str]] = []
        self.trained_steps = 0

    def _class(self, node_id: str) -> str:
        return str(self.item.graph[node_id]["class_type"])

    # -- frames ---------------------------------------------------------------------------
    async def _emit(self, frame: str | bytes, *, everyone: bool = False) -> None:
        """Sends a frame to the prompt's client (or to everyone), applying the socket faults."""
        b = self.behaviour
        if b.silent or (not everyone and self.item.client_id is None):
            return
        if b.die_after_frames is not None and self.frames >= b.die_after_frames:
            raise ServerDied(self.pid)
        await self.server.deliver(frame, None if everyone else self.item.client_id)
        self.frames += 1
        if self.frames == b.drop_socket_after:
            self.server.drop_sockets()

    async def send(self, kind: str, data: JSON) -> None:
        await self._emit(json.dumps({"type": kind, "data": data}))

    async def status(self) -> None:
        info = {"status": self.server.queue_info()}
        await self._emit(json.dumps({"type": "status", "data": info}), everyone=True)

    async def message(self, kind: str, data: JSON, *, everyone: bool = False) -> None:
        """An event that is also kept in history's ``status.messages``."""
        data = {**data, "timestamp": _now()}
        self.messages.append([kind, data])
        await self._emit(json.dumps({"type": kind, "data": data}), everyone=everyone)

    async def progress_state(self) -> None:
        await self.send("progress_state", {"prompt_id": self.pid,
                                           "nodes": copy.deepcopy(self.states)})

    def _state(self, node_id: str, state: str, value: float = 0, maximum: float = 1) -> None:
        self.states[node_id] = {
            "value": value, "max": maximum, "state": state, "node_id": node_id,
            "prompt_id": self.pid, "display_node_id": node_id, "parent_node_id": None,
            "real_node_id": node_id,
        }

    async def image_frame(self, node_id: str, image: bytes, image_format: int) -> None:
        client = self.item.client_id
        if client and self.server.client_flags(client).get("supports_preview_metadata"):
            kind = "image/png" if image_format == FORMAT_PNG else "image/jpeg"
            meta = {"node_id": node_id, "prompt_id": self.pid, "display_node_id": node_id,
                    "parent_node_id": None, "real_node_id": node_id, "image_type": kind}
            await self._emit(preview_frame_with_metadata(image, meta))
        else:
            await self._emit(preview_frame(image, image_format))

    # -- execution ------------------------------------------------------------------------
    async def execute(self) -> None:
        self.server.interrupt_event.clear()
        await self.status()  # the queue changed: this prompt left pending for running
        await self.message("execution_start", {"prompt_id": self.pid})
        await self.message("execution_cached", {"nodes": [], "prompt_id": self.pid})
        try:
            for node_id in self.order:
                await self.node(node_id)
        except _Stopped as stop:
            await self._stopped(stop)
            success = False
        else:
            await self.message("execution_success", {"prompt_id": self.pid})
            success = True
        self.server.finish(self.item, {
            "prompt": self.item.row(),
            "outputs": self.ui,
            "status": {"status_str": "success" if success else "error", "completed": success,
                       "messages": self.messages},
            "meta": {nid: {"node_id": nid, "display_node": nid, "parent_node": None,
                           "real_node_id": nid} for nid in self.ui},
        })
        await self.status()
        await self.send("executing", {"node": None, "prompt_id": self.pid})

    async def _stopped(self, stop: _Stopped) -> None:
        base = {"prompt_id": self.pid, "node_id": stop.node_id,
                "node_type": self._class(stop.node_id), "executed": list(self.executed)}
        if stop.interrupted:  # to the prompt's client; to everyone when it has none
            await self.message("execution_interrupted", base, everyone=self.item.client_id is None)
            return
        inputs = self.item.graph[stop.node_id].get("inputs") or {}
        await self.message("execution_error", {
            **base,
            "exception_message": self.behaviour.exception_message,
            "exception_type": self.behaviour.exception_type,
            "traceback": [f'  File "fake_comfyui.py", line 1, in {self._class(stop.node_id)}\n'],
            "current_inputs": {k: [str(v) if is_link(v) else v] for k, v in inputs.items()},
            "current_outputs": list(self.executed),
        })

    def _check_interrupt(self, node_id: str) -> None:
        if self.server.interrupt_event.is_set():
            raise _Stopped(node_id, interrupted=True)

    async def node(self, node_id: str) -> None:
        b, class_type = self.behaviour, self._class(node_id)
        self._state(node_id, "running")
        await self.progress_state()
        self.server.last_node = node_id
        await self.send("executing", {"node": node_id, "display_node": node_id,
                                      "prompt_id": self.pid})
        await asyncio.sleep(0)
        self._check_interrupt(node_id)
        if b.fail_node == node_id:
            raise _Stopped(node_id, interrupted=False)
        if b.hang and node_id == self.hang_node:
            await self.server.interrupt_event.wait()
            self._check_interrupt(node_id)
        if class_type in PROGRESS_NODES or class_type == "Florence2Run":
            await self._progress(node_id)
        if class_type in TRAINING_NODES:
            await self._training(node_id, class_type)
        if class_type in SAVE_NODES:
            self.ui[node_id] = {"images": self._save(node_id, SAVE_NODES[class_type])}
            await self.send("executed", {"node": node_id, "display_node": node_id,
                                         "output": self.ui[node_id], "prompt_id": self.pid})
        elif class_type == WEBSOCKET_SAVE:
            await self._stream_images(node_id)
        elif class_type == SHOW_TEXT:  # its text is the run's output, as the real node's UI
            inputs = self.item.graph[node_id].get("inputs") or {}
            self.ui[node_id] = {"text": [caption(self.item.graph, inputs)]}
            await self.send("executed", {"node": node_id, "display_node": node_id,
                                         "output": self.ui[node_id], "prompt_id": self.pid})
        self.executed.append(node_id)
        self._state(node_id, "finished", 1, 1)
        await self.progress_state()

    async def _progress(self, node_id: str) -> None:
        b = self.behaviour
        for step in range(1, b.steps + 1):
            await asyncio.sleep(b.step_delay)
            self._check_interrupt(node_id)
            self._state(node_id, "running", step, b.steps)
            await self.progress_state()
            await self.send("progress", {"value": step, "max": b.steps, "prompt_id": self.pid,
                                         "node": node_id})
            if b.preview:
                await self.image_frame(node_id, render_jpeg(self.colour), 1)

    async def _training(self, node_id: str, class_type: str) -> None:
        """The dataset loader, the trainer (a progress frame per step) and SaveLoRA."""
        inputs = self.item.graph[node_id].get("inputs") or {}
        if class_type == "LoadImageTextDataSetFromFolder":
            self.training_set = dataset(self.server.files, str(inputs.get("folder")))
            if not self.training_set:
                self.behaviour.exception_message = "No valid images found in input"
                self.behaviour.exception_type = "ValueError"
                raise _Stopped(node_id, interrupted=False)
        elif class_type == "TrainLoraNode":
            steps = int(inputs.get("steps", 16))
            for step in range(1, steps + 1):
                await asyncio.sleep(self.behaviour.step_delay)
                self._check_interrupt(node_id)
                self._state(node_id, "running", step, steps)
                await self.progress_state()
                await self.send("progress", {"value": step, "max": steps, "prompt_id": self.pid,
                                             "node": node_id})
            self.trained_steps = steps
        elif class_type == "SaveLoRA" and not self.behaviour.lose_lora:
            prefix = posixpath.normpath(str(inputs.get("prefix", "loras/ComfyUI_trained_lora")))
            folder, base = posixpath.dirname(prefix), posixpath.basename(prefix)
            existing = [name for kind, sub, name in self.server.files
                        if kind == "output" and sub == folder]
            steps = inputs.get("steps")
            if is_link(steps):  # TrainLoraNode's output 3 is its step count
                steps = self.trained_steps
            name = saved_lora_name(existing, base, steps if isinstance(steps, int) else None)
            self.server.files[("output", folder, name)] = lora_file(self.training_set,
                                                                    self.trained_steps)

    async def _stream_images(self, node_id: str) -> None:
        """SaveImageWebsocket: each image as a binary PNG frame, no ``executed``."""
        total = self.behaviour.outputs
        for index in range(1, total + 1):
            self._state(node_id, "running", index, total)
            await self.progress_state()
            await self.send("progress", {"value": index, "max": total, "prompt_id": self.pid,
                                         "node": node_id})
            await self.image_frame(node_id, render_png(self.size, self.colour, {}), FORMAT_PNG)

    def _save(self, node_id: str, kind: str) -> list[JSON]:
        inputs = self.item.graph[node_id].get("inputs") or {}
        prefix = str(inputs.get("filename_prefix", "ComfyUI"))
        if kind == "temp":
            prefix = "ComfyUI_temp_" + "".join(chr(97 + c % 26) for c in self.colour * 2)[:5]
        text = {"prompt": json.dumps(self.item.graph)}
        extra = self.item.extra_data.get("extra_pnginfo")
        if isinstance(extra, dict):
            text.update({key: json.dumps(value) for key, value in extra.items()})
        png = render_png(self.size, self.colour, text)
        return [self.server.store_output(kind, prefix, png) for _ in range(self.behaviour.outputs)]
