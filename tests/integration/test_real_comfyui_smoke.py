"""A real ComfyUI on loopback answers as shared/reference/comfyui-protocol.md says.

These tests talk to the server directly (httpx + websockets), not through our engine: they
check that tests/support/comfyui.py starts a working server and pin down the protocol facts
our ComfyUI engine and its fake rely on. Skipped when ComfyUI is not installed
(scripts/comfyui-setup), failed instead on CI.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from PIL import Image

from tests.support.comfyui import (
    RealComfyUI,
    comfyui_server,
    require_comfyui,
    write_tiny_upscale_model,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RUN_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def server() -> Iterator[RealComfyUI]:
    require_comfyui()
    with comfyui_server() as running:
        yield running


@pytest.fixture
def own_server() -> Iterator[RealComfyUI]:
    """A server of the test's own, for tests that kill it."""
    require_comfyui()
    with comfyui_server() as running:
        yield running


@dataclass
class Run:
    prompt_id: str
    client_id: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    binary_frames: list[bytes] = field(default_factory=list)

    def types(self) -> list[str]:
        return [frame["type"] for frame in self.frames]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [frame["data"] for frame in self.frames if frame["type"] == kind]


async def run_prompt(server: RealComfyUI, http: httpx.AsyncClient, graph: dict[str, Any]) -> Run:
    """POST the graph with our own prompt_id; follow the websocket until it is done."""
    run = Run(prompt_id=str(uuid.uuid4()), client_id=uuid.uuid4().hex)
    # Connect first: execution frames go only to the socket of the prompt's client_id.
    async with websockets.connect(f"{server.ws_url}?clientId={run.client_id}") as ws:
        reply = await http.post(
            "/prompt",
            json={"prompt": graph, "client_id": run.client_id, "prompt_id": run.prompt_id},
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["prompt_id"] == run.prompt_id
        assert body["node_errors"] == {}
        async with asyncio.timeout(RUN_TIMEOUT_S):
            async for message in ws:
                if isinstance(message, bytes):
                    run.binary_frames.append(message)
                    continue
                frame = json.loads(message)
                run.frames.append(frame)
                data = frame.get("data", {})
                if (
                    frame["type"] == "executing"
                    and data.get("node") is None
                    and data.get("prompt_id") == run.prompt_id
                ):
                    break
    return run


async def history_entry(http: httpx.AsyncClient, prompt_id: str) -> dict[str, Any]:
    reply = await http.get(f"/history/{prompt_id}")
    assert reply.status_code == 200
    history = reply.json()
    assert list(history) == [prompt_id]
    entry: dict[str, Any] = history[prompt_id]
    return entry


async def fetch_output_png(http: httpx.AsyncClient, image: dict[str, str]) -> bytes:
    reply = await http.get(
        "/view",
        params={
            "filename": image["filename"],
            "subfolder": image["subfolder"],
            "type": image["type"],
        },
    )
    assert reply.status_code == 200
    assert reply.content.startswith(PNG_SIGNATURE)
    return reply.content


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which always comes first."""
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_finished_in_order(run: Run) -> None:
    types = run.types()
    assert types[0] == "status"  # sent on connect
    assert "execution_start" in types
    assert types.index("execution_start") < types.index("execution_success")
    assert types[-1] == "executing"  # executing{node: null}, last
    assert "execution_error" not in types
    for frame in run.frames:
        if frame["type"] != "status":
            assert frame["data"]["prompt_id"] == run.prompt_id


async def test_model_free_graph_runs_and_its_png_can_be_fetched(server: RealComfyUI) -> None:
    graph = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 32, "batch_size": 1, "color": 0xFF0000},
        },
        "2": {
            "class_type": "SaveImage",
            "inputs": {"images": ["1", 0], "filename_prefix": "smoke"},
        },
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        run = await run_prompt(server, http, graph)

        assert_finished_in_order(run)
        assert [data["node"] for data in run.of_type("executing")] == ["1", "2", None]
        (executed,) = run.of_type("executed")
        assert executed["node"] == "2"
        (image,) = executed["output"]["images"]
        assert image["type"] == "output"
        assert run.of_type("progress") == []  # plain image nodes report no progress

        entry = await history_entry(http, run.prompt_id)
        assert entry["status"]["status_str"] == "success"
        assert entry["status"]["completed"] is True
        assert entry["outputs"] == {"2": {"images": [image]}}

        png = await fetch_output_png(http, image)
        assert png_size(png) == (64, 32)
        with Image.open(io.BytesIO(png)) as decoded:
            assert decoded.convert("RGB").getpixel((10, 10)) == (255, 0, 0)


async def test_validation_error_is_a_400_with_node_errors(server: RealComfyUI) -> None:
    graph = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": -5, "height": 32, "batch_size": 1, "color": 0},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        reply = await http.post("/prompt", json={"prompt": graph, "client_id": "c"})
    assert reply.status_code == 400
    body = reply.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    (error,) = body["node_errors"]["1"]["errors"]
    assert error["type"] == "value_smaller_than_min"
    assert error["extra_info"]["input_name"] == "width"
    assert body["node_errors"]["1"]["class_type"] == "EmptyImage"


@pytest.fixture
def tiny_model(server: RealComfyUI) -> str:
    return write_tiny_upscale_model(server.models_dir)


async def test_tiny_upscale_model_reports_progress_and_doubles_the_image(
    server: RealComfyUI, tiny_model: str
) -> None:
    source = io.BytesIO()
    # 600x520 is 2x2 tiles of 512 px (overlap 32): four progress steps.
    Image.new("RGB", (600, 520), (40, 120, 200)).save(source, "PNG")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        listed = await http.get("/models/upscale_models")
        assert tiny_model in listed.json()
        uploaded = await http.post(
            "/upload/image",
            files={"image": ("source.png", source.getvalue(), "image/png")},
            data={"type": "input", "subfolder": "smoke", "overwrite": "true"},
        )
        assert uploaded.status_code == 200, uploaded.text
        upload = uploaded.json()
        graph = {
            "1": {
                "class_type": "LoadImage",
                "inputs": {"image": f"{upload['subfolder']}/{upload['name']}"},
            },
            "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": tiny_model}},
            "3": {
                "class_type": "ImageUpscaleWithModel",
                "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]},
            },
            "4": {
                "class_type": "SaveImage",
                "inputs": {"images": ["3", 0], "filename_prefix": "upscaled"},
            },
        }
        run = await run_prompt(server, http, graph)

        assert_finished_in_order(run)
        progress = run.of_type("progress")
        assert len(progress) >= 1
        assert {p["node"] for p in progress} == {"3"}
        assert [p["value"] for p in progress] == [1, 2, 3, 4]
        assert {p["max"] for p in progress} == {4}
        types = run.types()
        first_progress = types.index("progress")
        executing_nodes = [
            (i, frame["data"]["node"])
            for i, frame in enumerate(run.frames)
            if frame["type"] == "executing"
        ]
        start_3 = next(i for i, node in executing_nodes if node == "3")
        start_4 = next(i for i, node in executing_nodes if node == "4")
        assert start_3 < first_progress < start_4

        (executed,) = run.of_type("executed")
        (image,) = executed["output"]["images"]
        png = await fetch_output_png(http, image)
        assert png_size(png) == (1200, 1040)


async def test_killed_server_restarts_on_the_same_port_keeping_its_files(
    own_server: RealComfyUI,
) -> None:
    graph = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "k"}},
    }
    url, port, first_pid = own_server.url, own_server.port, own_server.pid
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        before = await run_prompt(own_server, http, graph)
        (image,) = before.of_type("executed")[0]["output"]["images"]

        await asyncio.to_thread(own_server.kill)
        assert not own_server.running
        with pytest.raises(httpx.TransportError):
            await http.get("/system_stats")

        await asyncio.to_thread(own_server.restart)
        assert own_server.running
        assert (own_server.url, own_server.port) == (url, port)
        assert own_server.pid != first_pid
        assert (await http.get("/system_stats")).status_code == 200

        # History lived in memory and is gone; files in the base directory stay.
        assert (await http.get(f"/history/{before.prompt_id}")).json() == {}
        await fetch_output_png(http, image)

        after = await run_prompt(own_server, http, graph)
        assert_finished_in_order(after)
