"""The fake ComfyUI speaks the protocol recorded from a real ComfyUI 0.3.75.

See /work/shared/reference/comfyui-protocol.md. These tests pin the fake to that document so the
engine's tests against the fake mean something.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from tests.support.fake_comfyui import FakeComfyUI

Frame = dict[str, Any] | bytes
TIMEOUT = 3.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    server = FakeComfyUI()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http(fake: FakeComfyUI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, timeout=TIMEOUT) as client:
        yield client


def image_graph(width: int = 96, height: int = 48) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": width, "height": height, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}},
    }


def sampler_graph() -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 128, "height": 80, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "model": ["4", 0], "seed": 1, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["5", 0], "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "s"}},
    }


def png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


async def open_ws(fake: FakeComfyUI, client_id: str) -> ClientConnection:
    ws = await connect(f"{fake.ws_url}?clientId={client_id}")
    hello = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert hello == {"type": "status",
                     "data": {"status": {"exec_info": {"queue_remaining": hello["data"]["status"][
                         "exec_info"]["queue_remaining"]}}, "sid": client_id}}
    return ws


async def submit(http: httpx.AsyncClient, graph: dict[str, Any], client_id: str = "c1",
                 **extra: Any) -> str:
    response = await http.post("/prompt", json={"prompt": graph, "client_id": client_id, **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"prompt_id", "number", "node_errors"}
    return str(body["prompt_id"])


async def next_frame(ws: ClientConnection, timeout: float = TIMEOUT) -> Frame:
    message = await asyncio.wait_for(ws.recv(), timeout)
    return message if isinstance(message, bytes) else json.loads(message)


async def frames_until_done(ws: ClientConnection, prompt_id: str) -> list[Frame]:
    """Frames up to and including ``executing {node: null}`` for the prompt."""
    frames: list[Frame] = []
    while True:
        frame = await next_frame(ws)
        frames.append(frame)
        if (isinstance(frame, dict) and frame["type"] == "executing"
                and frame["data"] == {"node": None, "prompt_id": prompt_id}):
            return frames


def types(frames: list[Frame], *, skip: tuple[str, ...] = ()) -> list[str]:
    return [("binary" if isinstance(f, bytes) else f["type"]) for f in frames
            if isinstance(f, bytes) or f["type"] not in skip]


def of_type(frames: list[Frame], kind: str) -> list[dict[str, Any]]:
    return [f["data"] for f in frames if isinstance(f, dict) and f["type"] == kind]


async def history_of(http: httpx.AsyncClient, prompt_id: str) -> dict[str, Any]:
    response = await http.get(f"/history/{prompt_id}")
    assert response.status_code == 200
    return dict(response.json())


# -- normal runs -----------------------------------------------------------------------------
async def test_image_graph_frames_arrive_in_comfyui_order(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    ws = await open_ws(fake, "c1")
    prompt_id = await submit(http, image_graph(), prompt_id="my-own-id")
    assert prompt_id == "my-own-id"
    frames = await frames_until_done(ws, prompt_id)
    assert types(frames) == [
        "status", "status", "execution_start", "execution_cached",
        "progress_state", "executing", "progress_state",
        "progress_state", "executing", "executed", "progress_state",
        "execution_success", "status", "executing",
    ]
    start, cached = of_type(frames, "execution_start")[0], of_type(frames, "execution_cached")[0]
    assert start["prompt_id"] == prompt_id and isinstance(start["timestamp"], int)
    assert cached["nodes"] == [] and cached["prompt_id"] == prompt_id
    assert [e["node"] for e in of_type(frames, "executing")] == ["1", "2", None]
    assert of_type(frames, "executing")[0] == {"node": "1", "display_node": "1",
                                               "prompt_id": prompt_id}
    executed = of_type(frames, "executed")[0]
    assert executed == {"node": "2", "display_node": "2", "prompt_id": prompt_id, "output": {
        "images": [{"filename": "t_00001_.png", "subfolder": "", "type": "output"}]}}
    assert of_type(frames, "status")[-1] == {"status": {"exec_info": {"queue_remaining": 0}}}
    await ws.close()


async def test_sampler_graph_sends_progress_in_topological_order(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    fake.script(steps=4)
    ws = await open_ws(fake, "c1")
    prompt_id = await submit(http, sampler_graph())
    frames = await frames_until_done(ws, prompt_id)
    assert types(frames, skip=("status", "progress_state", "executing")) == [
        "execution_start", "execution_cached", "progress", "progress", "progress", "progress",
        "executed", "execution_success",
    ]
    assert [e["node"] for e in of_type(frames, "executing")] == [
        "4", "6", "7", "5", "3", "8", "9", None]
    assert of_type(frames, "progress") == [
        {"value": step, "max": 4, "prompt_id": prompt_id, "node": "3"} for step in range(1, 5)]
    state = of_type(frames, "progress_state")[-1]
    assert state["nodes"]["9"]["state"] == "finished"
    await ws.close()


async def test_history_and_view_after_success(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    prompt_id = await submit(http, image_graph(96, 48), client_id="nobody")
    await asyncio.wait_for(fake.wait_idle(), TIMEOUT)
    entry = (await history_of(http, prompt_id))[prompt_id]
    assert set(entry) == {"prompt", "outputs", "status", "meta"}
    number, pid, graph, extra, outputs = entry["prompt"]
    assert (pid, graph, extra, outputs) == (prompt_id, image_graph(96, 48),
                                            {"client_id": "nobody"}, ["2"])
    assert isinstance(number, int)
    image = {"filename": "t_00001_.png", "subfolder": "", "type": "output"}
    assert entry["outputs"] == {"2": {"images": [image]}}
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert [m[0] for m in entry["status"]["messages"]] == [
        "execution_start", "execution_cached", "execution_success"]
    view = await http.get("/view", params=image)
    assert view.status_code == 200 and view.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(view.content)) as png:
        assert png.size == (96, 48)
        assert json.loads(png.info["prompt"]) == image_graph(96, 48)
    assert (await http.get("/api/view", params=image)).content == view.content
    assert (await http.get("/view", params={**image, "filename": "nope.png"})).status_code == 404
    bad = await http.get("/view", params={**image, "filename": "../secret.png"})
    assert bad.status_code == 400
    assert (await http.get("/history/unknown")).json() == {}


async def test_history_lists_and_deletes(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    ids = [await submit(http, image_graph()) for _ in range(3)]
    await asyncio.wait_for(fake.wait_idle(), TIMEOUT)
    assert list((await http.get("/history", params={"max_items": 2})).json()) == ids[1:]
    assert (await http.post("/history", json={"delete": [ids[0]]})).status_code == 200
    assert list((await http.get("/history")).json()) == ids[1:]
    await http.post("/history", json={"clear": True})
    assert (await http.get("/history")).json() == {}


async def test_runtime_error_frames_and_history(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.script(fail_node="3", exception_message="boom", exception_type="torch.OutOfMemoryError")
    ws = await open_ws(fake, "c1")
    prompt_id = await submit(http, sampler_graph())
    frames = await frames_until_done(ws, prompt_id)
    assert types(frames, skip=("progress_state",))[-4:] == [
        "executing", "execution_error", "status", "executing"]
    assert "execution_success" not in types(frames)
    error = of_type(frames, "execution_error")[0]
    assert set(error) == {"prompt_id", "node_id", "node_type", "executed", "exception_message",
                          "exception_type", "traceback", "current_inputs", "current_outputs",
                          "timestamp"}
    assert (error["node_id"], error["node_type"]) == ("3", "KSampler")
    assert error["exception_message"] == "boom"
    assert error["exception_type"] == "torch.OutOfMemoryError"
    assert error["executed"] == ["4", "6", "7", "5"]
    entry = (await history_of(http, prompt_id))[prompt_id]
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    assert entry["outputs"] == {}
    assert entry["status"]["messages"][-1][0] == "execution_error"
    await ws.close()


# -- validation ------------------------------------------------------------------------------
async def test_missing_required_input_is_a_400_with_node_errors(http: httpx.AsyncClient) -> None:
    graph = image_graph()
    del graph["1"]["inputs"]["width"]
    response = await http.post("/prompt", json={"prompt": graph, "client_id": "c1"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == {"type": "prompt_outputs_failed_validation",
                             "message": "Prompt outputs failed validation", "details": "",
                             "extra_info": {}}
    assert body["node_errors"] == {"1": {
        "errors": [{"type": "required_input_missing", "message": "Required input is missing",
                    "details": "width", "extra_info": {"input_name": "width"}}],
        "dependent_outputs": ["2"], "class_type": "EmptyImage"}}


async def test_out_of_range_and_not_in_list_values(http: httpx.AsyncClient) -> None:
    graph = sampler_graph()
    graph["3"]["inputs"].update(steps=0, sampler_name="nope")
    body = (await http.post("/prompt", json={"prompt": graph})).json()
    errors = body["node_errors"]["3"]["errors"]
    assert [e["type"] for e in errors] == ["value_smaller_than_min", "value_not_in_list"]
    assert errors[0]["extra_info"]["input_name"] == "steps"
    assert body["node_errors"]["3"]["dependent_outputs"] == ["9"]


async def test_scripted_validation_error(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.script(validation_error={"node": "1", "input_name": "width",
                                  "type": "value_smaller_than_min", "message": "Value 0 smaller "
                                  "than min of 1"})
    response = await http.post("/prompt", json={"prompt": image_graph()})
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert set(body["error"]) == {"type", "message", "details", "extra_info"}
    node = body["node_errors"]["1"]
    assert node["class_type"] == "EmptyImage" and node["dependent_outputs"] == ["2"]
    assert node["errors"][0]["extra_info"] == {"input_name": "width"}
    assert node["errors"][0]["type"] == "value_smaller_than_min"
    assert (await http.post("/prompt", json={"prompt": image_graph()})).status_code == 200


@pytest.mark.parametrize(("graph", "kind"), [
    ({"1": {"class_type": "NoSuchNode", "inputs": {}}}, "invalid_prompt"),
    ({"1": {"inputs": {}}}, "invalid_prompt"),
    ({"1": {"class_type": "EmptyImage", "inputs": {}}}, "prompt_no_outputs"),
])
async def test_graph_level_errors(http: httpx.AsyncClient, graph: dict[str, Any],
                                  kind: str) -> None:
    response = await http.post("/api/prompt", json={"prompt": graph})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == kind
    assert response.json()["node_errors"] == {}


async def test_malformed_json_is_a_500_in_plain_text(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    response = await http.post("/prompt", content=b"{not json",
                               headers={"content-type": "application/json"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert fake.prompts == []


# -- websockets ------------------------------------------------------------------------------
async def test_frames_go_only_to_the_prompts_client(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    mine, other = await open_ws(fake, "mine"), await open_ws(fake, "other")
    prompt_id = await submit(http, image_graph(), client_id="mine")
    await frames_until_done(mine, prompt_id)
    seen: list[Frame] = []
    with pytest.raises(TimeoutError):
        while True:
            seen.append(await next_frame(other, timeout=0.2))
    assert seen and set(types(seen)) == {"status"}  # queue updates are broadcast, nothing else
    await mine.close()
    await other.close()


async def test_reconnect_with_same_client_id_replaces_the_old_socket(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    old = await open_ws(fake, "c1")
    new = await open_ws(fake, "c1")
    prompt_id = await submit(http, image_graph())
    frames = await frames_until_done(new, prompt_id)
    assert "execution_success" in types(frames)
    with pytest.raises(TimeoutError):
        await next_frame(old, timeout=0.2)
    await old.close()
    await new.close()


async def test_frames_are_not_buffered_for_an_absent_client(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    prompt_id = await submit(http, image_graph(), client_id="late")
    await asyncio.wait_for(fake.wait_idle(), TIMEOUT)
    late = await open_ws(fake, "late")
    with pytest.raises(TimeoutError):
        await next_frame(late, timeout=0.2)
    assert prompt_id in (await http.get("/history")).json()
    await late.close()


async def test_preview_frames_are_binary_jpegs(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.script(preview=True, steps=2)
    ws = await open_ws(fake, "c1")
    frames = await frames_until_done(ws, await submit(http, sampler_graph()))
    previews = [f for f in frames if isinstance(f, bytes)]
    assert len(previews) == 2
    assert struct.unpack(">II", previews[0][:8]) == (1, 1)
    with Image.open(io.BytesIO(previews[0][8:])) as jpeg:
        assert jpeg.format == "JPEG"
    await ws.close()


async def test_silent_prompt_sends_nothing_but_finishes(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    fake.script(silent=True)
    ws = await open_ws(fake, "c1")
    prompt_id = await submit(http, image_graph())
    await asyncio.wait_for(fake.wait_idle(), TIMEOUT)
    assert types([await next_frame(ws)]) == ["status"]  # the queue update of POST /prompt
    with pytest.raises(TimeoutError):
        await next_frame(ws, timeout=0.2)
    entry = (await history_of(http, prompt_id))[prompt_id]
    assert entry["status"]["status_str"] == "success"
    await ws.close()


async def test_drop_socket_after_closes_the_socket_but_the_prompt_finishes(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    fake.script(drop_socket_after=3, steps=5)
    ws = await open_ws(fake, "c1")
    prompt_id = await submit(http, sampler_graph())
    received: list[Frame] = []
    with pytest.raises(ConnectionClosedError):
        while True:
            received.append(await next_frame(ws))
    assert types(received) == ["status", "status", "execution_start", "execution_cached"]
    await asyncio.wait_for(fake.wait_idle(), TIMEOUT)
    entry = (await history_of(http, prompt_id))[prompt_id]
    assert entry["status"]["status_str"] == "success"
    assert entry["outputs"]["9"]["images"][0]["filename"] == "s_00001_.png"


async def test_reconnecting_mid_run_gets_the_current_node_and_the_rest(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    fake.script(drop_socket_after=5, hang=True)
    ws = await open_ws(fake, "c1")
    prompt_id = await submit(http, sampler_graph())
    with pytest.raises(ConnectionClosedError):
        while True:
            await next_frame(ws)
    again = await open_ws(fake, "c1")
    current = await next_frame(again)  # ComfyUI re-sends the node, without a prompt_id
    assert isinstance(current, dict) and current["type"] == "executing"
    assert set(current["data"]) == {"node"} and current["data"]["node"] in {"4", "6", "7", "5", "3"}
    await http.post("/interrupt")
    frames = await frames_until_done(again, prompt_id)
    assert "execution_interrupted" in types(frames)
    await again.close()


async def test_closing_a_replaced_socket_unregisters_its_successor(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    """A real ComfyUI quirk: the old handler's cleanup pops the clientId the new socket uses."""
    old = await open_ws(fake, "c1")
    new = await open_ws(fake, "c1")
    await old.close()
    await asyncio.sleep(0.05)
    await submit(http, image_graph())
    await asyncio.wait_for(fake.wait_idle(), TIMEOUT)
    with pytest.raises(TimeoutError):
        await next_frame(new, timeout=0.2)
    await new.close()


async def test_feature_flags_and_websocket_images(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    ws = await open_ws(fake, "c1")
    hello = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
    await ws.send(json.dumps(hello))
    flags = await next_frame(ws)
    assert isinstance(flags, dict) and flags["type"] == "feature_flags"
    assert flags["data"]["supports_preview_metadata"] is True
    fake.script(outputs=2)
    graph = image_graph(20, 10)
    graph["2"] = {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}}
    prompt_id = await submit(http, graph)
    frames = await frames_until_done(ws, prompt_id)
    images = [f for f in frames if isinstance(f, bytes)]
    assert len(images) == 2 and "executed" not in types(frames)
    kind, length = struct.unpack(">II", images[0][:8])
    meta = json.loads(images[0][8:8 + length])
    assert kind == 4 and meta["node_id"] == "2" and meta["image_type"] == "image/png"
    with Image.open(io.BytesIO(images[0][8 + length:])) as png:
        assert png.size == (20, 10)
    assert (await history_of(http, prompt_id))[prompt_id]["outputs"] == {}
    await ws.close()


# -- queue and interrupt ---------------------------------------------------------------------
async def test_queue_delete_only_touches_pending_items(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    fake.script(hang=True)
    running = await submit(http, image_graph())
    second = await submit(http, image_graph())
    third = await submit(http, image_graph(), front=True)
    queue = (await http.get("/queue")).json()
    assert [row[1] for row in queue["queue_running"]] == [running]
    assert [row[1] for row in queue["queue_pending"]] == [third, second]  # front goes first
    assert len(queue["queue_running"][0]) == 5
    response = await http.post("/queue", json={"delete": [running, second, "unknown"]})
    assert response.status_code == 200 and response.content == b""
    queue = (await http.get("/queue")).json()
    assert [row[1] for row in queue["queue_running"]] == [running]
    assert [row[1] for row in queue["queue_pending"]] == [third]
    assert fake.deletes == [running, second, "unknown"]
    await http.post("/interrupt")
    await asyncio.wait_for(fake.wait_idle(), TIMEOUT)
    history = (await http.get("/history")).json()
    assert set(history) == {running, third}


async def test_interrupting_a_hanging_prompt(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.script(hang=True)
    ws = await open_ws(fake, "c1")
    prompt_id = await submit(http, sampler_graph())
    while (await next_frame(ws)) != {"type": "executing", "data": {
            "node": "3", "display_node": "3", "prompt_id": prompt_id}}:
        pass
    assert (await http.post("/interrupt", json={"prompt_id": "another"})).status_code == 200
    with pytest.raises(TimeoutError):
        await next_frame(ws, timeout=0.2)  # the wrong id interrupts nothing
    response = await http.post("/interrupt", json={"prompt_id": prompt_id})
    assert response.status_code == 200 and response.content == b""
    frames = await frames_until_done(ws, prompt_id)
    assert types(frames) == ["execution_interrupted", "status", "executing"]
    interrupted = of_type(frames, "execution_interrupted")[0]
    assert interrupted["node_id"] == "3" and interrupted["node_type"] == "KSampler"
    assert interrupted["executed"] == ["4", "6", "7", "5"]
    assert set(interrupted) == {"prompt_id", "node_id", "node_type", "executed", "timestamp"}
    assert fake.interrupts == ["another", prompt_id]
    status = (await history_of(http, prompt_id))[prompt_id]["status"]
    assert (status["status_str"], status["completed"]) == ("error", False)
    await ws.close()


# -- server lifecycle ------------------------------------------------------------------------
async def test_restart_forgets_history_on_the_same_port(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    port = fake.port
    kept = await submit(http, image_graph())
    await asyncio.wait_for(fake.wait_idle(), TIMEOUT)
    await fake.restart(forget=False)
    assert fake.port == port and kept in (await http.get("/history")).json()
    await fake.restart()
    assert fake.port == port
    assert (await http.get("/history")).json() == {}
    assert (await http.get("/queue")).json() == {"queue_running": [], "queue_pending": []}


async def test_go_down_refuses_connections_and_come_back_accepts_them(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    ws = await open_ws(fake, "c1")
    await fake.go_down()
    with pytest.raises(ConnectionClosed):
        await next_frame(ws)
    async with httpx.AsyncClient(base_url=fake.url, timeout=TIMEOUT) as fresh:
        with pytest.raises(httpx.ConnectError):
            await fresh.get("/system_stats")
        with pytest.raises(OSError):
            await connect(f"{fake.ws_url}?clientId=c1")
        await fake.come_back()
        stats = (await fresh.get("/system_stats")).json()
    assert stats["system"]["comfyui_version"] == "0.3.75"
    assert stats["devices"][0]["type"] == "cpu"
    await (await open_ws(fake, "c1")).close()


async def test_die_after_frames_takes_the_server_down_and_loses_everything(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    fake.script(hang=True)
    fake.script(die_after_frames=4)
    await submit(http, image_graph(), client_id="someone-else")
    dying = await submit(http, sampler_graph())
    ws = await open_ws(fake, "c1")
    await http.post("/interrupt")
    received: list[Frame] = []
    with pytest.raises(ConnectionClosedError):
        while True:
            received.append(await next_frame(ws))
    assert types(received)[-4:] == [
        "status", "execution_start", "execution_cached", "progress_state"]
    assert of_type(received, "execution_start")[0]["prompt_id"] == dying
    async with httpx.AsyncClient(base_url=fake.url, timeout=TIMEOUT) as fresh:
        with pytest.raises(httpx.ConnectError):
            await fresh.get("/queue")
        await fake.come_back()
        assert (await fresh.get("/history")).json() == {}
        assert (await fresh.get("/queue")).json() == {"queue_running": [], "queue_pending": []}


# -- uploads and catalogue -------------------------------------------------------------------
async def test_upload_names_and_load_image_size(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    first = await http.post("/upload/image", files={"image": ("in.png", png_bytes(40, 30))},
                            data={"type": "input", "subfolder": "", "overwrite": "false"})
    assert first.json() == {"name": "in.png", "subfolder": "", "type": "input"}
    clash = await http.post("/upload/image", files={"image": ("in.png", png_bytes(50, 20))})
    assert clash.json()["name"] == "in (1).png"
    same = await http.post("/upload/image", files={"image": ("in.png", png_bytes(40, 30))})
    assert same.json()["name"] == "in.png"
    sub = await http.post("/upload/image", files={"image": ("in.png", png_bytes(8, 8))},
                          data={"subfolder": "jobs", "overwrite": "true"})
    assert sub.json() == {"name": "in.png", "subfolder": "jobs", "type": "input"}
    empty = await http.post("/upload/image", data={"type": "input"})
    assert empty.status_code == 400 and empty.content == b""
    assert set(fake.uploads) == {"in.png", "in (1).png", "jobs/in.png"}
    info = (await http.get("/object_info/LoadImage")).json()
    assert info["LoadImage"]["input"]["required"]["image"][0] == sorted(fake.uploads)
    graph: dict[str, dict[str, Any]] = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "in (1).png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage",
              "inputs": {"images": ["2", 0], "filename_prefix": "out/inv"}},
    }
    prompt_id = await submit(http, graph)
    await asyncio.wait_for(fake.wait_idle(), TIMEOUT)
    image = (await history_of(http, prompt_id))[prompt_id]["outputs"]["3"]["images"][0]
    assert image == {"filename": "inv_00001_.png", "subfolder": "out", "type": "output"}
    with Image.open(io.BytesIO((await http.get("/view", params=image)).content)) as png:
        assert png.size == (50, 20)
    graph["1"]["inputs"]["image"] = "missing.png"
    errors = (await http.post("/prompt", json={"prompt": graph})).json()["node_errors"]
    assert errors["1"]["errors"][0]["type"] == "custom_validation_failed"


async def test_catalogue_routes(http: httpx.AsyncClient) -> None:
    info = (await http.get("/object_info")).json()
    ckpt = info["CheckpointLoaderSimple"]
    assert ckpt["input"]["required"]["ckpt_name"][0] == ["v1-5-pruned-emaonly.safetensors"]
    assert ckpt["output"] == ["MODEL", "CLIP", "VAE"] and ckpt["output_node"] is False
    assert info["SaveImage"]["output_node"] is True
    steps = info["KSampler"]["input"]["required"]["steps"]
    assert steps == ["INT", {"default": 20, "min": 1, "max": 10000, "step": 1}]
    assert (await http.get("/object_info/Nope")).json() == {}
    assert "upscale_models" in (await http.get("/models")).json()
    models = (await http.get("/api/models/upscale_models")).json()
    assert models == ["RealESRGAN_x4plus.pth"]
    assert (await http.get("/models/not_a_folder")).status_code == 404
    assert (await http.get("/embeddings")).json() == []
    assert (await http.get("/features")).status_code == 200


async def test_scripts_match_prompts_and_expire(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.script(lambda body: "KSampler" in json.dumps(body["prompt"]), fail_node="3", times=None)
    ids = [await submit(http, g) for g in (image_graph(), sampler_graph(), sampler_graph())]
    await asyncio.wait_for(fake.wait_idle(), TIMEOUT)
    history = (await http.get("/history")).json()
    assert [history[i]["status"]["status_str"] for i in ids] == ["success", "error", "error"]
    assert [body["prompt"] for body in fake.prompts] == [
        image_graph(), sampler_graph(), sampler_graph()]
    assert all(isinstance(uuid.UUID(i), uuid.UUID) for i in ids)
