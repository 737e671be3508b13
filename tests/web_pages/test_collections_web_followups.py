"""Web follow-ups that came with the collections work: ``/`` is only the pages' (the old
health page is gone), a used sign-in link sends a browser to the sign-in page with the
reason, and the no-JS dataset upload form takes more than the 1 MiB of other bodies."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

from PIL import Image

from stationthis.core.users import Identity
from stationthis.workflows.app import App
from tests.web_pages.conftest import Browser

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def test_the_home_page_is_the_pages_one(web: Callable[[], Browser],
                                              station_app: App) -> None:
    landing = await web().get("/")
    assert landing.status_code == 200 and "Sign up" in landing.text
    assert '<link rel="stylesheet" href="/static/style.css">' in landing.text  # the pages'
    status = await web().get("/status")
    assert status.status_code == 200 and "preview" in status.text


async def test_a_used_sign_in_link_sends_a_browser_to_sign_in(
    web: Callable[[], Browser], station_app: App,
) -> None:
    user = await station_app.users.resolve(Identity("telegram", "31"))
    token = await station_app.auth.create_login_link(user)
    first = await web().get(f"/auth/link/{token}", headers=HTML)
    assert first.status_code == 303 and first.headers["location"] == "/"
    browser = web()
    used = await browser.get(f"/auth/link/{token}", headers=HTML)
    assert used.status_code == 303 and used.headers["location"] == "/signin?link=gone"
    signin = await browser.get(used.headers["location"])
    assert signin.status_code == 200 and "already used" in signin.text
    made_up = await web().get("/auth/link/made-up", headers=HTML)
    assert made_up.headers["location"] == "/signin?link=gone"
    program = await web().get(f"/auth/link/{token}", headers={"Accept": "application/json"})
    assert program.status_code == 401 and program.json()["error"]["code"] == "unauthorized"


async def test_the_no_js_dataset_upload_takes_more_than_a_mebibyte(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    await browser.get("/datasets")
    made = await browser.post("/datasets", {"name": "big"})
    dataset_id = made.headers["location"].removeprefix("/datasets/")
    buffer = io.BytesIO()
    Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3)).save(buffer, "PNG")
    assert buffer.tell() > 1024 * 1024  # over the limit of other bodies
    await browser.get(f"/datasets/{dataset_id}")
    answer = await browser.client.post(
        f"/datasets/{dataset_id}/images", data={"csrf": browser.csrf},
        files=[("files", ("noise.png", buffer.getvalue(), "image/png"))])
    assert answer.status_code == 303, answer.text[:300]
    alice = await station_app.users.resolve(Identity("web", "alice"))
    assert len((await station_app.datasets.get(alice.id, dataset_id)).images) == 1
