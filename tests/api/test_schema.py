"""Schemathesis against the OpenAPI schema over ASGI: every operation, with a signed-in API
key, answers without a server error, with a documented status, content type and body."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.migrations import upgrade
from stationthis.platforms.web.app import create_app
from tests.support.scripted import ScriptedEngine

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


# Loading the schema over ASGI starts the app's lifespan (on schemathesis's own event loop),
# so the database must exist when this module is imported.
_DATA = Path(tempfile.mkdtemp(prefix="stationthis-schema-"))
upgrade(f"sqlite+aiosqlite:///{_DATA / 'stationthis.db'}")
_APP = build(Settings(data_dir=_DATA, _env_file=None,  # type: ignore[call-arg]
                      allowance={"interval_seconds": 4_000_000_000}),
             engine=ScriptedEngine())
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_APP))


@pytest.fixture(scope="module")
def api_key() -> Iterator[str]:
    """A user signed up through the API, and an API key made with its session."""
    signup = schema["/api/v1/auth/signup"]["POST"].Case(
        body={"username": "schemathesis", "password": "correct horse battery"}).call()
    assert signup.status_code == 201, signup.text
    cookie = signup.headers["set-cookie"][0].split(";")[0]
    made = schema["/api/v1/account/keys"]["POST"].Case(body={"name": "fuzz"}).call(
        headers={"Cookie": cookie, "X-CSRF-Token": signup.json()["csrf_token"]})
    assert made.status_code == 201, made.text
    yield str(made.json()["key"])
    shutil.rmtree(_DATA, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_api_conforms_to_its_schema(case: Any, api_key: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {api_key}"}, checks=CHECKS)
