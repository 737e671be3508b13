"""Text that is not valid Unicode (a lone surrogate from a ``"\\ud800"`` JSON escape, bytes
that are not UTF-8) is refused at the door with 400 ``invalid_text``: no job, no ledger row,
no stored setting — and the user's pages and API keep answering afterwards."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.api.conftest import error_of, sign_up

JSON = {"content-type": "application/json"}
PAGES = ("/api/v1/jobs", "/api/v1/history", "/api/v1/settings", "/api/v1/balance", "/",
         "/account")


async def still_fine(client: httpx.AsyncClient) -> None:
    for path in PAGES:
        answer = await client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])


def refused(answer: httpx.Response) -> None:
    assert answer.status_code == 400, answer.text
    error = error_of(answer)
    assert error["code"] == "invalid_text"
    assert "valid Unicode" in error["message"]


@pytest.mark.parametrize("body", [
    b'{"tool": "make", "options": {"prompt": "a fox \\ud800"}}',  # a lone high surrogate
    b'{"tool": "make", "options": {"prompt": "\\udc00 tail"}}',  # a lone low surrogate
    b'{"tool": "make", "options": {"\\ud800": 1, "prompt": "a fox"}}',  # in a key
    b'{"tool": "make", "options": {"prompt": "a fox \xed\xa0\x80"}}',  # encoded surrogate
    b'{"tool": "make", "options": {"prompt": "a fox \xff"}}',  # not UTF-8 at all
    '{"options": {"prompt": "\\ud800"}}'.encode("utf-16"),  # JSON in UTF-16 with one
])
async def test_a_job_with_invalid_text_is_refused_and_nothing_is_created(
    alice: httpx.AsyncClient, body: bytes
) -> None:
    ledger = (await alice.get("/api/v1/ledger")).json()
    refused(await alice.post("/api/v1/jobs", content=body, headers=JSON))
    refused(await alice.post("/api/v1/quotes", content=body, headers=JSON))
    assert (await alice.get("/api/v1/jobs")).json()["jobs"] == []
    assert (await alice.get("/api/v1/ledger")).json() == ledger
    assert (await alice.get("/api/v1/balance")).json()["total"] == 1000
    await still_fine(alice)


async def test_valid_text_that_looks_similar_is_accepted(alice: httpx.AsyncClient) -> None:
    # A surrogate PAIR is one valid character; an escaped backslash is just text.
    for prompt in (b'"a fox \\ud83e\\udd8a"', b'"a fox \\\\ud800"', '"a fox 🦊 ü"'.encode()):
        body = b'{"tool": "make", "options": {"prompt": ' + prompt + b"}}"
        answer = await alice.post("/api/v1/quotes", content=body, headers=JSON)
        assert answer.status_code == 200, answer.text
    made = await alice.post("/api/v1/jobs", content=b'{"options": {"prompt": "\\ud83e\\udd8a"}}',
                            headers=JSON)
    assert made.status_code == 202, made.text
    assert (await alice.get(f"/api/v1/jobs/{made.json()['id']}")).status_code == 200
    await still_fine(alice)


@pytest.mark.parametrize("method", ["put", "patch"])
async def test_a_setting_with_invalid_text_is_refused_and_not_stored(
    alice: httpx.AsyncClient, method: str
) -> None:
    before = (await alice.get("/api/v1/settings")).json()
    answer = await alice.request(method, "/api/v1/settings/negative",
                                 content=b'{"value": "blurry \\ud800"}', headers=JSON)
    refused(answer)  # (there is no PATCH route: the body is refused before routing)
    assert (await alice.get("/api/v1/settings")).json() == before
    await still_fine(alice)


async def test_other_json_bodies_are_checked_too(alice: httpx.AsyncClient) -> None:
    refused(await alice.post("/api/v1/collections", headers=JSON,
                             content=b'{"name": "mine \\udfff"}'))
    assert (await alice.get("/api/v1/collections")).json()["mine"] == []


async def test_a_query_string_must_be_utf8(alice: httpx.AsyncClient) -> None:
    refused(await alice.get("/api/v1/jobs?state=%ff"))
    refused(await alice.get("/api/v1/history?before=%ED%A0%80"))
    assert (await alice.get("/api/v1/jobs?state=finished")).status_code == 200
    assert (await alice.get("/api/v1/tools?q=%C3%BC")).status_code == 200
    documented = (await alice.get("/openapi.json")).json()["paths"]["/api/v1/jobs"]["get"]
    assert "400" in documented["responses"]


async def test_a_page_form_must_be_utf8(web: Callable[..., httpx.AsyncClient]) -> None:
    browser = web()
    answer = await browser.post(
        "/signin", content=b"username=al%ED%A0%80ice&password=x&csrf=x",
        headers={"content-type": "application/x-www-form-urlencoded"})
    refused(answer)
    answer = await browser.post(
        "/signin", content=b"username=al%FFice&password=x&csrf=x",
        headers={"content-type": "application/x-www-form-urlencoded"})
    refused(answer)


async def test_text_stored_before_the_check_cannot_brick_the_pages(
    app: App, web: Callable[..., httpx.AsyncClient]
) -> None:
    # An install that ran before the edges refused lone surrogates may hold some in its JSON
    # columns (a job's parameters, a setting): they read back as U+FFFD.
    client = web()
    me = await sign_up(client, "carol")
    account = await app.users.get(me["id"])
    await app.user_settings.set(account, "negative", "blurry \ud800")
    job = await app.make_image.make(account, Request("make", {"prompt": "a fox \udc00"}),
                                    reply={"platform": "web"})
    await app.jobs.wait(job.id)
    await still_fine(client)
    settings = (await client.get("/api/v1/settings")).json()
    assert settings["items"]["negative"]["value"] == "blurry \ufffd"
    [shown] = (await client.get("/api/v1/jobs")).json()["jobs"]
    assert shown["params"]["prompt"] == "a fox \ufffd"
