"""A protocol-faithful, scriptable fake ComfyUI server for engine unit and fault tests.

It speaks the wire protocol recorded from a real ComfyUI 0.3.75
(/work/shared/reference/comfyui-protocol.md) on 127.0.0.1 with an ephemeral port, in the test's
event loop (aiohttp: HTTP and the websocket on one app; every route also under ``/api``).
Faults are scripted per prompt with :meth:`FakeComfyUI.script` (see :class:`Behaviour`)::

    fake = FakeComfyUI()
    await fake.start()
    fake.script(fail_node="3", exception_message="CUDA out of memory")
    ...  # the next prompt fails at node 3
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import mimetypes
import posixpath
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.fake_comfyui_nodes import (
    DEFAULT_MODELS,
    JSON,
    MODEL_FOLDERS,
    default_object_info,
    no_prompt_error,
    scripted_validation_error,
    validate_prompt,
)
from tests.support.fake_comfyui_run import Behaviour, PromptRun, QueueItem, ServerDied
from tests.support.fake_comfyui_training import (
    input_loras,
    input_subfolders,
    training_object_info,
    with_live_choices,
)

__all__ = ["Behaviour", "FakeComfyUI"]

Matcher = Callable[[JSON], bool]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DIR_TYPES = ("input", "temp", "output")
SERVER_FEATURES = {"supports_preview_metadata": True, "max_upload_size": 104857600}


def _crash_response() -> web.Response:
    """What aiohttp answers when a ComfyUI handler raises (e.g. on malformed JSON)."""
    return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in "
                        "trouble", content_type="text/plain")


async def _json_or_none(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _bad_path(path: str) -> bool:
    return path.startswith("/") or ".." in path.split("/")


def _folder(subfolder: str) -> str:
    """A subfolder as a key: "" for the top level, no "./" or trailing "/"."""
    normal = posixpath.normpath(subfolder) if subfolder else ""
    return "" if normal == "." else normal


@dataclass
class _Script:
    matcher: Matcher | None
    behaviour: Behaviour
    times: int | None  # None: every matching prompt


class FakeComfyUI:
    """See the module docstring. Inspect ``prompts``, ``uploads``, ``interrupts``, ``deletes``."""

    def __init__(
        self, *, models: dict[str, list[str]] | None = None, object_info: JSON | None = None,
        loras_from_input: str | None = None, max_upload_size: int | None = None,
    ) -> None:
        """``loras_from_input``: an input subfolder the server also lists as ``loras`` (what an
        operator's extra_model_paths.yaml entry does); None: uploaded files are not models."""
        models = DEFAULT_MODELS if models is None else models
        self.models = {folder: list(names) for folder, names in models.items()}
        if object_info is None:
            object_info = {**default_object_info(self.models),
                           **training_object_info(self.models.get("loras", []))}
        self.object_info = object_info
        self.loras_from_input = loras_from_input
        # aiohttp answers 413 to a larger request body, as ComfyUI's --max-upload-size does
        self.max_upload_size = max_upload_size or SERVER_FEATURES["max_upload_size"]
        self.default = Behaviour()  # for prompts no script matches
        self.prompts: list[JSON] = []  # every parsed /prompt body, in arrival order
        self.uploads: dict[str, bytes] = {}  # input images by LoadImage name ("sub/name.png")
        self.interrupts: list[str | None] = []  # the prompt_id of each /interrupt (None: no body)
        self.deletes: list[str] = []  # every id passed to POST /queue {"delete": [...]}
        self.requests: Counter[str] = Counter()  # "GET /history/{prompt_id}" -> times asked
        self.files: dict[tuple[str, str, str], bytes] = {}  # (type, subfolder, filename) -> bytes
        self.port = 0
        self.last_node: str | None = None
        self.interrupt_event = asyncio.Event()
        self._scripts: list[_Script] = []
        self._pending: list[QueueItem] = []
        self._running: QueueItem | None = None
        self._history: dict[str, JSON] = {}
        self._number = 0
        self._counters: dict[tuple[str, str, str], int] = {}
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._open: dict[web.WebSocketResponse, web.Request] = {}
        self._dropped: set[web.WebSocketResponse] = set()
        self._flags: dict[str, JSON] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._runner: web.AppRunner | None = None
        self._worker: asyncio.Task[None] | None = None
        self._bug: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Listens on 127.0.0.1 (a new ephemeral port the first time, the same port after)."""
        if self._runner is None:
            runner = web.AppRunner(self._make_app(), access_log=None, shutdown_timeout=0.5)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
            await site.start()
            self._runner, self.port = runner, runner.addresses[0][1]
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="fake-comfyui-worker")

    async def stop(self) -> None:
        await self.go_down()
        await self._stop_worker()
        self._raise_bug()

    async def __aenter__(self) -> FakeComfyUI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def go_down(self) -> None:
        """Connections are refused and open sockets die; queued prompts keep running."""
        self.drop_sockets()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def come_back(self) -> None:
        await self.start()

    async def restart(self, *, forget: bool = True) -> None:
        """Stops and starts on the same port; ``forget`` loses the queue, the running prompt and
        history, as a real restart does (output and input files survive: they are on disk)."""
        await self.go_down()
        if forget:
            await self._stop_worker()
            self._wipe()
        await self.start()

    async def wait_idle(self) -> None:
        """Returns when nothing is pending or running."""
        await self._idle.wait()
        self._raise_bug()

    def script(
        self, prompt_matcher: Matcher | None = None, *, times: int | None = 1, **behaviour: Any
    ) -> None:
        """Sets the behaviour of the next prompt whose /prompt body matches (any, if no matcher),
        for ``times`` prompts (None: all of them). Scripts are tried in the order given."""
        self._scripts.append(_Script(prompt_matcher, Behaviour(**behaviour), times))

    def history(self) -> JSON:
        return copy.deepcopy(self._history)

    # -- used by PromptRun ----------------------------------------------------------------
    def queue_info(self) -> JSON:
        running = 1 if self._running is not None else 0
        return {"exec_info": {"queue_remaining": len(self._pending) + running}}

    def client_flags(self, client_id: str) -> JSON:
        return self._flags.get(client_id, {})

    async def deliver(self, frame: str | bytes, client_id: str | None) -> None:
        """To one client (dropped if it is not connected: nothing is buffered) or to all."""
        if client_id is None:
            targets = list(self._sockets.values())
        else:
            targets = [self._sockets[client_id]] if client_id in self._sockets else []
        for ws in targets:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))

    def drop_sockets(self) -> None:
        """Cuts every websocket without a close frame (the client sees code 1006)."""
        self._sockets.clear()
        for ws, request in list(self._open.items()):
            self._dropped.add(ws)
            if request.transport is not None:
                request.transport.abort()

    def store_output(self, kind: str, prefix: str, data: bytes) -> JSON:
        folder, _, base = prefix.rpartition("/")
        subfolder = _folder(folder)
        key = (kind, subfolder, base)
        self._counters[key] = counter = self._counters.get(key, 0) + 1
        filename = f"{base}_{counter:05}_.png"
        self.files[(kind, subfolder, filename)] = data
        return {"filename": filename, "subfolder": subfolder, "type": kind}

    def finish(self, item: QueueItem, entry: JSON) -> None:
        self._history[item.prompt_id] = entry
        self._running, self.last_node = None, None

    # -- worker ---------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            item = min(self._pending, key=lambda queued: queued.number)
            self._pending.remove(item)
            self._running = item
            try:
                await PromptRun(self, item).execute()
            except ServerDied:
                await self.go_down()
                self._wipe()
                return
            except Exception as exc:  # a bug in the fake: surface it from wait_idle()/stop()
                self._bug = exc
                self._wipe()
                return

    async def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None and worker is not asyncio.current_task():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    def _wipe(self) -> None:
        self._pending.clear()
        self._history.clear()
        self._running, self.last_node, self._number = None, None, 0
        self._idle.set()

    def _raise_bug(self) -> None:
        if self._bug is not None:
            raise RuntimeError("the fake ComfyUI worker crashed") from self._bug

    def _take_behaviour(self, body: JSON) -> Behaviour:
        for script in self._scripts:
            if script.matcher is None or script.matcher(body):
                if script.times is not None:
                    script.times -= 1
                    if script.times <= 0:
                        self._scripts.remove(script)
                return dataclasses.replace(script.behaviour)
        return dataclasses.replace(self.default)

    async def _broadcast_status(self) -> None:
        frame = json.dumps({"type": "status", "data": {"status": self.queue_info()}})
        await self.deliver(frame, None)

    # -- app ------------------------------------------------------------------------------
    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_upload_size, middlewares=[self._count])
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/ws", self._ws),
            ("POST", "/prompt", self._post_prompt),
            ("GET", "/prompt", self._get_prompt),
            ("POST", "/upload/image", self._upload),
            ("GET", "/view", self._view),
            ("GET", "/history", self._get_history),
            ("GET", "/history/{prompt_id}", self._get_history_item),
            ("POST", "/history", self._post_history),
            ("GET", "/queue", self._get_queue),
            ("POST", "/queue", self._post_queue),
            ("POST", "/interrupt", self._interrupt),
            ("GET", "/system_stats", self._system_stats),
            ("GET", "/object_info", self._get_object_info),
            ("GET", "/object_info/{node_class}", self._get_object_info),
            ("GET", "/models", self._get_models),
            ("GET", "/models/{folder}", self._get_models),
            ("GET", "/embeddings", self._embeddings),
            ("GET", "/features", self._features),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
            app.router.add_route(method, "/api" + path, handler)
        return app

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else request.path
        self.requests[f"{request.method} {path.removeprefix('/api')}"] += 1
        response: web.StreamResponse = await handler(request)
        return response

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self._sockets[sid], self._open[ws], self._flags[sid] = ws, request, {}
        try:
            hello = {"status": self.queue_info(), "sid": sid}
            await ws.send_str(json.dumps({"type": "status", "data": hello}))
            running = self._running
            if running is not None and running.client_id == sid and self.last_node is not None:
                await ws.send_str(json.dumps({"type": "executing",
                                              "data": {"node": self.last_node}}))
            first = True
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and first:
                    await self._negotiate(ws, sid, msg.data)
                first = False
        finally:
            self._open.pop(ws, None)
            if ws not in self._dropped:
                # ComfyUI pops the clientId however the socket ended, even when a newer socket
                # has replaced it: a client that closes its old socket after reconnecting loses
                # the new one's frames until it reconnects again.
                self._sockets.pop(sid, None)
            self._dropped.discard(ws)
        return ws

    async def _negotiate(self, ws: web.WebSocketResponse, sid: str, text: str) -> None:
        with contextlib.suppress(ValueError):
            message = json.loads(text)
            if isinstance(message, dict) and message.get("type") == "feature_flags":
                self._flags[sid] = dict(message.get("data") or {})
                await ws.send_str(json.dumps({"type": "feature_flags", "data": SERVER_FEATURES}))

    async def _post_prompt(self, request: web.Request) -> web.Response:
        body = await _json_or_none(request)
        if not isinstance(body, dict):
            return _crash_response()
        self.prompts.append(body)
        if "number" in body:
            number: float = float(body["number"])
        else:
            number = -self._number if body.get("front") else self._number
            self._number += 1
        if "prompt" not in body:
            return web.json_response({"error": no_prompt_error(), "node_errors": {}}, status=400)
        graph = body["prompt"]
        behaviour = self._take_behaviour(body)
        info = self._current_object_info()
        error, outputs, node_errors = validate_prompt(graph, info, self._input_names())
        if error is not None:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        if behaviour.validation_error is not None:
            failure = scripted_validation_error(behaviour.validation_error, graph, info)
            return web.json_response(failure, status=400)
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        extra = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        self._pending.append(QueueItem(number, prompt_id, graph, extra, outputs, behaviour))
        self._idle.clear()
        self._wake.set()
        await self._broadcast_status()
        return web.json_response({"prompt_id": prompt_id, "number": number,
                                  "node_errors": node_errors})

    async def _get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response({"exec_info": self.queue_info()["exec_info"]})

    async def _upload(self, request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        kind = str(post.get("type") or "input")
        subfolder = str(post.get("subfolder") or "")
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        if kind not in DIR_TYPES:
            return _crash_response()
        if _bad_path(subfolder) or _bad_path(image.filename) or "/" in image.filename:
            return web.Response(status=400)
        data, folder = image.file.read(), _folder(subfolder)
        name, (stem, ext) = image.filename, posixpath.splitext(image.filename)
        if str(post.get("overwrite")) not in ("true", "1"):
            clash = 0  # a same-named file with the same bytes is reused, as ComfyUI does
            while self.files.get((kind, folder, name), data) != data:
                clash += 1
                name = f"{stem} ({clash}){ext}"
        self.files[(kind, folder, name)] = data
        if kind == "input":
            self.uploads[posixpath.join(folder, name)] = data
        return web.json_response({"name": name, "subfolder": subfolder, "type": kind})

    async def _view(self, request: web.Request) -> web.Response:
        query = request.query
        if "filename" not in query:
            return web.Response(status=404)
        filename, kind = query["filename"], query.get("type", "output")
        for annotated in DIR_TYPES:  # "name.png [output]" picks the folder, as in ComfyUI
            if filename.endswith(f" [{annotated}]"):
                filename, kind = filename[: -len(annotated) - 3], annotated
        if not filename or _bad_path(filename):
            return web.Response(status=400)
        if kind not in DIR_TYPES:
            return web.Response(status=400)
        subfolder = query.get("subfolder", "")
        if _bad_path(subfolder):
            return web.Response(status=403)
        key = (kind, _folder(subfolder), posixpath.basename(filename))
        data = self.files.get(key)
        if data is None:
            return web.Response(status=404)
        content_type = mimetypes.guess_type(key[2])[0] or "application/octet-stream"
        return web.Response(body=data, content_type=content_type,
                            headers={"Content-Disposition": f'filename="{key[2]}"'})

    async def _get_history(self, request: web.Request) -> web.Response:
        items = list(self._history.items())
        if "max_items" in request.query:
            count = int(request.query["max_items"])
            offset = int(request.query.get("offset", -1))
            start = len(items) - count if offset < 0 else offset
            items = items[max(start, 0):][:count]
        return web.json_response(dict(items))

    async def _get_history_item(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self._history.get(prompt_id)
        return web.json_response({} if entry is None else {prompt_id: entry})

    async def _post_history(self, request: web.Request) -> web.Response:
        body = await _json_or_none(request)
        if not isinstance(body, dict):
            return _crash_response()
        if body.get("clear"):
            self._history.clear()
        for prompt_id in body.get("delete") or []:
            self._history.pop(prompt_id, None)
        return web.Response(status=200)

    async def _get_queue(self, request: web.Request) -> web.Response:
        running = [self._running.row()] if self._running is not None else []
        pending = [item.row() for item in sorted(self._pending, key=lambda i: i.number)]
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def _post_queue(self, request: web.Request) -> web.Response:
        body = await _json_or_none(request)
        if not isinstance(body, dict):
            return _crash_response()
        if body.get("clear"):
            self._pending.clear()
        for prompt_id in body.get("delete") or []:
            self.deletes.append(prompt_id)
            self._pending = [item for item in self._pending if item.prompt_id != prompt_id]
        if not self._pending and self._running is None:
            self._idle.set()
        await self._broadcast_status()
        return web.Response(status=200)

    async def _interrupt(self, request: web.Request) -> web.Response:
        body = await _json_or_none(request)
        prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
        self.interrupts.append(prompt_id)
        running = self._running
        if not prompt_id or (running is not None and running.prompt_id == prompt_id):
            self.interrupt_event.set()  # cleared when the next prompt starts, as in ComfyUI
        return web.Response(status=200)

    async def _system_stats(self, request: web.Request) -> web.Response:
        gib = 1024**3
        return web.json_response({
            "system": {
                "os": "posix", "ram_total": 16 * gib, "ram_free": 12 * gib,
                "comfyui_version": "0.3.75", "python_version": sys.version,
                "pytorch_version": "2.14.1+cpu", "embedded_python": False, "argv": [],
            },
            "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 0,
                         "vram_free": 0, "torch_vram_total": 0, "torch_vram_free": 0}],
        })

    def _input_names(self) -> list[str]:
        return sorted(self.uploads)

    def lora_names(self) -> list[str]:
        """What ``GET /models/loras`` lists: the server's loras and, when configured, the
        LoRA files uploaded into the ``loras_from_input`` subfolder."""
        listed = set(self.models.get("loras", []))
        listed.update(input_loras(self.files, self.loras_from_input))
        return sorted(listed)

    def _current_object_info(self) -> JSON:
        """``object_info`` with the choices ComfyUI lists afresh: LoadImage's uploaded input
        images, the input subfolders of the dataset loader, the loras."""
        info = copy.deepcopy(self.object_info)
        image = info.get("LoadImage", {}).get("input", {}).get("required", {}).get("image")
        if isinstance(image, list) and image and isinstance(image[0], list):
            info["LoadImage"]["input"]["required"]["image"][0] = self._input_names()
        return with_live_choices(info, input_subfolders(self.files), self.lora_names())

    async def _get_object_info(self, request: web.Request) -> web.Response:
        info = self._current_object_info()
        node_class = request.match_info.get("node_class")
        if node_class is None:
            return web.json_response(info)
        return web.json_response({node_class: info[node_class]} if node_class in info else {})

    async def _get_models(self, request: web.Request) -> web.Response:
        folders = MODEL_FOLDERS + [name for name in self.models if name not in MODEL_FOLDERS]
        folder = request.match_info.get("folder")
        if folder is None:
            return web.json_response(folders)
        if folder not in folders:
            return web.Response(status=404)
        if folder == "loras":
            return web.json_response(self.lora_names())
        return web.json_response(sorted(self.models.get(folder, [])))

    async def _embeddings(self, request: web.Request) -> web.Response:
        names = self.models.get("embeddings", [])
        return web.json_response([posixpath.splitext(name)[0] for name in names])

    async def _features(self, request: web.Request) -> web.Response:
        return web.json_response(SERVER_FEATURES)
