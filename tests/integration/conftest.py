"""Fixtures for running our ComfyUI engine against a REAL ComfyUI on loopback.

One server (``real_comfyui``) is started for the whole session and shared by the tests; a test
that must kill a server starts a second one of its own (``second_comfyui``). Both carry the
tiny random upscale model (written once per session) and a "model" file that is not a model.
The tools the tests run are model-free JSON files in ``tests/integration/tools``.

``require_comfyui()`` runs in the session fixture: without ComfyUI the tests are skipped
locally and FAIL on CI (``CI=true`` or ``STATIONTHIS_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.engines.comfyui import ComfyUIEngine, ServerPool
from stationthis.workflows.app import App
from tests.support.comfyui import (
    RealComfyUI,
    comfyui_server,
    require_comfyui,
    write_tiny_upscale_model,
)

TOOLS_DIR = Path(__file__).parent / "tools"
TINY_MODEL = "tiny-compact-2x.safetensors"  # tools/tiny_upscale.json refers to it
BROKEN_MODEL = "broken-model.safetensors"  # tools/broken.json refers to it


def install_models(server: RealComfyUI, models: Path) -> None:
    """Copy the session's model files into a server's ``models/upscale_models``."""
    target = server.models_dir / "upscale_models"
    target.mkdir(parents=True, exist_ok=True)
    for path in models.iterdir():
        shutil.copyfile(path, target / path.name)


def clear_server(server: RealComfyUI) -> None:
    """Leave nothing queued or running behind a test (the server is shared)."""
    if not server.running:
        return
    with httpx.Client(base_url=server.url, timeout=10) as http:
        http.post("/queue", json={"clear": True})
        http.post("/interrupt")


def write_models(folder: Path) -> Path:
    """The tiny upscale model and a file of that kind that is not a model, in ``folder``."""
    write_tiny_upscale_model(folder, name=TINY_MODEL)
    written = folder / "upscale_models"
    for path in written.iterdir():
        path.replace(folder / path.name)
    written.rmdir()
    (folder / BROKEN_MODEL).write_bytes(b"not a safetensors file " * 8)
    return folder


@pytest.fixture(scope="session")
def comfyui_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's model files are (written by ``real_comfyui``)."""
    return tmp_path_factory.mktemp("comfyui-models")


@pytest.fixture(scope="session")
def real_comfyui(comfyui_models: Path) -> Iterator[RealComfyUI]:
    """A real ComfyUI for the whole session, with the model files installed. The model is
    written while the server starts (each takes seconds of CPU)."""
    require_comfyui()
    with ThreadPoolExecutor(1) as pool:
        written = pool.submit(write_models, comfyui_models)
        with comfyui_server() as server:
            install_models(server, written.result())
            yield server


@pytest.fixture
def shared_comfyui(real_comfyui: RealComfyUI, comfyui_models: Path) -> Iterator[RealComfyUI]:
    """``real_comfyui``, started again if an earlier test killed it, cleared afterwards."""
    if not real_comfyui.running:
        real_comfyui.start()
        install_models(real_comfyui, comfyui_models)
    yield real_comfyui
    clear_server(real_comfyui)


@pytest.fixture
def second_comfyui(
    real_comfyui: RealComfyUI, comfyui_models: Path
) -> Iterator[RealComfyUI]:
    """Another real ComfyUI, for a test of its own (it may kill it)."""
    with comfyui_server() as server:
        install_models(server, comfyui_models)
        yield server


@pytest.fixture(scope="session")
def tools_dir() -> Path:
    return TOOLS_DIR


def engine_for(
    *urls: str, client_id: str | None = None, down_grace: float = 2.0,
    silence_timeout: float = 0.3,
) -> ComfyUIEngine:
    """Our engine with the short timeouts of tests/unit/test_comfyui_engine.py.

    Each engine gets its own websocket client id, as ``bootstrap`` gives each process: a real
    ComfyUI forgets a client id's NEW socket when an OLD socket with the same id closes
    after it connected (server.py pops the id in the old handler's ``finally``), so engines
    of consecutive tests sharing an id would lose each other's frames."""
    client_id = client_id or f"integration-{uuid.uuid4().hex}"
    pool = ServerPool(urls, client_id=client_id, check_every=0.2)
    return ComfyUIEngine(pool, client_id=client_id, silence_timeout=silence_timeout,
                         down_grace=down_grace, result_wait=5.0)


def build_app(settings: Settings, engine: ComfyUIEngine) -> App:
    """An app on our engine that reports every progress frame (the runner normally keeps
    one per 0.5 s; how many tiles fit in that depends on the CPU, so tests would too)."""
    app = build(settings, engine=engine)
    app.runner.progress_interval = 0.0
    return app


@pytest.fixture
def comfy_settings(
    make_settings: Callable[..., Settings], tools_dir: Path, shared_comfyui: RealComfyUI
) -> Settings:
    return make_settings(tools_dir=tools_dir, comfyui_urls=shared_comfyui.url)


@pytest.fixture
async def comfy_app(comfy_settings: Settings, shared_comfyui: RealComfyUI) -> AsyncIterator[App]:
    """A started app whose engine is our ComfyUI engine on the shared real server."""
    async with build_app(comfy_settings, engine_for(shared_comfyui.url)) as app:
        yield app
