"""The fake ComfyUI that bench/comfyui.py runs against, in a process of its own (so that the
StationThis process's memory and CPU are its own): aiohttp, every prompt runs at once and
finishes ``--job-seconds`` after it was queued (0: at once), with the frames a real server
sends (``execution_start``, ``executing``, ``executed`` with the image, ``execution_success``,
``executing {node: null}``), ``/queue``, ``/history``, ``/view`` and a ``/_stats`` route that
counts the requests it received.

    python bench/comfyui_fake.py --job-seconds 30    # prints "PORT n", serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import resource
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

from PIL import Image

SIZE = 64


def tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (SIZE, SIZE), (90, 90, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def serve_fake(job_seconds: float) -> None:
    """The fake ComfyUI (run as ``--serve-fake`` in its own process); prints its port."""
    from aiohttp import WSMsgType, web

    png = tiny_png()
    running: dict[str, list[Any]] = {}
    history: dict[str, dict[str, Any]] = {}
    sockets: dict[str, web.WebSocketResponse] = {}
    locks: dict[str, asyncio.Lock] = {}
    counts: Counter[str] = Counter()
    state = {"number": 0, "accepted": 0, "done": 0, "max_running": 0}
    queue_body: list[bytes | None] = [None]  # cached /queue answer, rebuilt when it changes
    tasks: set[asyncio.Task[None]] = set()

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else request.path
        counts[f"{request.method} {name}"] += 1
        response: web.StreamResponse = await handler(request)
        return response

    async def send(client_id: str, kind: str, data: dict[str, Any]) -> None:
        ws = sockets.get(client_id)
        if ws is None or ws.closed:
            return
        async with locks.setdefault(client_id, asyncio.Lock()):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps({"type": kind, "data": data}))

    async def complete(prompt_id: str, client_id: str) -> None:
        await asyncio.sleep(job_seconds)
        image = {"filename": f"{prompt_id}.png", "subfolder": "", "type": "output"}
        item = running.pop(prompt_id)
        queue_body[0] = None
        now = int(time.time() * 1000)
        history[prompt_id] = {
            "prompt": item, "outputs": {"2": {"images": [image]}},
            "status": {"status_str": "success", "completed": True, "messages": [
                ["execution_start", {"prompt_id": prompt_id, "timestamp": now}],
                ["execution_success", {"prompt_id": prompt_id, "timestamp": now}]]},
            "meta": {"2": {"node_id": "2", "display_node": "2"}},
        }
        state["done"] += 1
        for node in ("1", "2"):
            await send(client_id, "executing",
                       {"node": node, "display_node": node, "prompt_id": prompt_id})
        await send(client_id, "executed", {"node": "2", "display_node": "2",
                                           "output": {"images": [image]},
                                           "prompt_id": prompt_id})
        await send(client_id, "execution_success", {"prompt_id": prompt_id, "timestamp": now})
        await send(client_id, "executing", {"node": None, "prompt_id": prompt_id})

    async def prompt(request: web.Request) -> web.Response:
        body = await request.json()
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        client_id = str(body.get("client_id") or "")
        number = state["number"] = state["number"] + 1
        running[prompt_id] = [number, prompt_id, body["prompt"], {"client_id": client_id}, ["2"]]
        queue_body[0] = None
        state["accepted"] += 1
        state["max_running"] = max(state["max_running"], len(running))
        await send(client_id, "execution_start",
                   {"prompt_id": prompt_id, "timestamp": int(time.time() * 1000)})
        task = asyncio.create_task(complete(prompt_id, client_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    async def queue(request: web.Request) -> web.Response:
        if queue_body[0] is None:
            queue_body[0] = json.dumps(
                {"queue_running": list(running.values()), "queue_pending": []}).encode()
        return web.Response(body=queue_body[0], content_type="application/json")

    async def history_of(request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry else {})

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        client_id = request.query.get("clientId") or uuid.uuid4().hex
        sockets[client_id] = ws
        await send(client_id, "status", {"status": {"exec_info": {"queue_remaining": 0}},
                                         "sid": client_id})
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            if sockets.get(client_id) is ws:
                sockets.pop(client_id)
        return ws

    async def stats(request: web.Request) -> web.Response:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return web.json_response({**state, "running": len(running), "counts": counts,
                                  "cpu_s": usage.ru_utime + usage.ru_stime})

    node = {"input": {"required": {}}, "output": [], "output_node": False}
    object_info = {"EmptyImage": node, "SaveImage": {**node, "output_node": True},
                   "LoadImage": node}

    async def constant(request: web.Request) -> web.Response:
        path = request.path
        if path == "/system_stats":
            return web.json_response({"system": {"comfyui_version": "0.3.75-fake",
                                                 "os": "posix"}, "devices": []})
        if path == "/object_info":
            return web.json_response(object_info)
        if path.startswith("/models/"):
            return web.json_response([])
        if path == "/view":
            return web.Response(body=png, content_type="image/png")
        if path == "/upload/image":
            await request.read()
            return web.json_response({"name": "upload.png", "subfolder": "", "type": "input"})
        return web.Response(status=200)  # POST /queue, POST /interrupt

    app = web.Application(middlewares=[count], client_max_size=64 * 1024 * 1024)
    app.add_routes([
        web.post("/prompt", prompt), web.get("/queue", queue),
        web.get("/history/{prompt_id}", history_of), web.get("/ws", ws_handler),
        web.get("/_stats", stats), web.get("/system_stats", constant),
        web.get("/object_info", constant), web.get("/models/{folder}", constant),
        web.get("/view", constant), web.post("/upload/image", constant),
        web.post("/queue", constant), web.post("/interrupt", constant),
    ])

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"PORT {port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def fake_comfyui(job_seconds: float) -> Iterator[str]:
    """Start the fake in a process of its own; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--job-seconds", str(job_seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the fake ComfyUI did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job-seconds", type=float, default=30.0)
    serve_fake(parser.parse_args().job_seconds)
