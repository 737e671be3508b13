"""Every answer carries the security headers: no framing (clickjacking), no MIME sniffing, no
Referer (share and sign-in links carry a token), a Content-Security-Policy that allows only
this site's scripts; HSTS under an https public URL. The sign-in form's cookie is Secure
there, like the session cookie. The pages keep working under the policy: they have no
inline script or style, and the API docs page still loads its Swagger UI."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.platforms.web.app import create_app
from tests.support.scripted import ScriptedEngine

TEMPLATES = Path(__file__).parents[2] / "src/stationthis/platforms/web/templates"
PAGES = ["/", "/signin", "/signup", "/status", "/api/v1/health", "/openapi.json",
         "/static/style.css", "/no-such-page", "/c/0123456789abcdef0123456789abcdef"]


@pytest.fixture
async def client_of(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    made: list[httpx.AsyncClient] = []

    def make(**settings: object) -> httpx.AsyncClient:
        app = build(make_settings(**settings), engine=ScriptedEngine())
        transport = httpx.ASGITransport(app=create_app(app, manage_lifecycle=False))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def directives(policy: str) -> dict[str, str]:
    return {d.strip().split(" ", 1)[0]: d.strip().partition(" ")[2]
            for d in policy.split(";") if d.strip()}


@pytest.mark.parametrize("path", PAGES)
async def test_every_answer_has_the_security_headers(
    client_of: Callable[..., httpx.AsyncClient], path: str
) -> None:
    answer = await client_of().get(path)
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    policy = directives(answer.headers["content-security-policy"])
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no other origin
    assert "strict-transport-security" not in answer.headers  # http public URL


async def test_https_public_url_adds_hsts_and_secure_form_cookie(
    client_of: Callable[..., httpx.AsyncClient],
) -> None:
    client = client_of(public_url="https://studio.example")
    home = await client.get("/")
    form = await client.get("/signin")
    assert home.headers["strict-transport-security"].startswith("max-age=")
    cookie = form.headers["set-cookie"]
    assert cookie.startswith("stationthis_form=")
    assert "secure" in cookie.lower().split("; ")


async def test_plain_http_form_cookie_is_not_secure(
    client_of: Callable[..., httpx.AsyncClient],
) -> None:
    form = await client_of().get("/signin")  # a Secure cookie would be lost over http
    assert "secure" not in form.headers["set-cookie"].lower().split("; ")


async def test_the_api_docs_still_load_their_swagger_ui(
    client_of: Callable[..., httpx.AsyncClient],
) -> None:
    docs = await client_of().get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert docs.headers["x-frame-options"] == "DENY"
    policy = directives(docs.headers["content-security-policy"])
    assert policy["frame-ancestors"] == "'none'"
    # Swagger UI comes from this server (pages/docs.py): self-only, no CDN, no inline script
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert "https:" not in docs.headers["content-security-policy"]
    assert "https://" not in docs.text and "<script>" not in docs.text


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_have_no_inline_script_or_style(template: str) -> None:
    """The policy allows only /static files: an inline script would silently stop working."""
    text = (TEMPLATES / template).read_text()
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert "src=" in tag, f"{template}: inline {tag}"
    assert "<style" not in text and " style=" not in text, template
    assert not re.search(r"\son[a-z]+=", text), f"{template}: an inline event handler"
