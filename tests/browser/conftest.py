"""Browser tests: Playwright driving Debian's Chromium against the real service.

The service is the real web app under uvicorn on a free loopback port, with SQLite in a temp
folder and the preview engine (slowed a little per step, so progress is there to be seen).
Chromium is Debian's (``apt-get install chromium``, or ``STATIONTHIS_CHROMIUM=<path>``);
Playwright's own browser downloads are never used. Without Chromium or Playwright the tests
are skipped locally — but with ``CI=true`` or ``STATIONTHIS_REQUIRE_SERVICES=1`` they fail,
as the PostgreSQL tests do.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings, WebSettings
from stationthis.engines.preview.engine import PreviewEngine
from stationthis.migrations import upgrade
from stationthis.platforms.web.app import create_app

CHROMIUM = Path(os.environ.get("STATIONTHIS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
REQUIRE_SERVICES = os.environ.get("CI") == "true" or os.environ.get(
    "STATIONTHIS_REQUIRE_SERVICES"
) == "1"
STEP_DELAY_S = 0.1  # per progress event of the preview engine: a make takes about 2 s
START_TIMEOUT_S = 30.0


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@dataclass
class Service:
    url: str
    data_dir: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    import uvicorn

    root = tmp_path_factory.mktemp("service")
    url = f"sqlite+aiosqlite:///{root / 'stationthis.db'}"
    # Playwright's sync API keeps an event loop running in this thread: migrate in another.
    migrate = threading.Thread(target=upgrade, args=(url,))
    migrate.start()
    migrate.join()
    # every test signs up its own users from 127.0.0.1: more than a real address would
    settings = Settings(data_dir=root, database_url=url, new_user_grant=5000,
                        web=WebSettings(signups_per_hour=100),
                        _env_file=None)  # type: ignore[call-arg]
    web = create_app(build(settings, engine=PreviewEngine(step_delay=STEP_DELAY_S)))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"the service did not start on {base}")
        time.sleep(0.1)
    try:
        yield Service(base, root)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


# Package scope: the sync API keeps an event loop running in this thread while it is open,
# which would break every asyncio test collected after this package.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    problem = _missing()
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(f"the browser tests must run here (CI): {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, service: Service) -> Iterator[Any]:
    context = browser.new_context(base_url=service.url, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()
