"""The fake Discord's wire helpers: serving on loopback, reading JSON and multipart bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web


@dataclass
class Call:
    method: str
    path: str
    payload: Any
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field -> (name, bytes)
    authorization: str | None = None
    content_type: str = ""
    status: int = 0


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def read_body(request: web.Request) -> tuple[Any, dict[str, tuple[str, bytes]]]:
    """(payload, files) of a JSON or multipart (``payload_json`` + ``files[n]``) body."""
    if request.content_type == "multipart/form-data":
        payload: Any = None
        files: dict[str, tuple[str, bytes]] = {}
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            assert isinstance(part, BodyPartReader)
            data = await part.read()
            if part.name == "payload_json":
                payload = json.loads(data)
            elif part.name and part.name.startswith("files["):
                files[part.name] = (part.filename or part.name, bytes(data))
        return payload, files
    raw = await request.read()
    if not raw:
        return None, {}
    if request.content_type != "application/json":
        return {"_not_json": raw.decode("utf-8", "replace")}, {}
    return json.loads(raw), {}
