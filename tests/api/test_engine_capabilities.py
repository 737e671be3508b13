"""What a user sees when the configured engine lacks an optional ability: a training is refused
by name before anything is held or queued, and the ComfyUI Deploy webhook route answers only
for an engine that declares webhooks (the declared set decides, not the engine's name)."""

from __future__ import annotations

import httpx
import pytest

from stationthis.core.engine import Capability
from stationthis.workflows.app import App
from tests.api.conftest import error_of
from tests.support.scripted import ScriptedEngine, png


class NoTraining(ScriptedEngine):
    capabilities = frozenset()


class Webhooks(ScriptedEngine):
    capabilities = frozenset({Capability.TRAIN, Capability.WEBHOOKS})

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[tuple[str, bytes]] = []

    async def receive_webhook(self, token: str, body: bytes) -> None:
        self.heard.append((token, body))


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> ScriptedEngine:
    kind: type[ScriptedEngine] = getattr(request, "param", NoTraining)
    return kind()


async def ready_dataset(client: httpx.AsyncClient) -> str:
    dataset = (await client.post("/api/v1/datasets", json={"name": "cats"})).json()
    files = [("files", (f"{i}.png", png(96, 96, (40 * i, 90, 200)), "image/png"))
             for i in range(4)]
    captions = {"captions": ["a cat"] * 4}
    added = await client.post(f"/api/v1/datasets/{dataset['id']}/images", files=files,
                              data=captions)
    assert added.json()["dataset"]["readiness"]["ready"], added.text
    return str(dataset["id"])


async def test_an_engine_that_cannot_train_refuses_a_training_by_name(
    app: App, alice: httpx.AsyncClient
) -> None:
    me = (await alice.get("/api/v1/auth/me")).json()
    await app.ledger.grant(me["id"], 5000, key="t", memo="for training")
    before = (await app.ledger.balance(me["id"])).total
    body = {"dataset_id": await ready_dataset(alice)}
    for route in ("/api/v1/trainings/quote", "/api/v1/trainings"):
        refused = await alice.post(route, json=body)
        assert refused.status_code == 409, refused.text
        error = error_of(refused)
        assert error["code"] == "not_supported"
        assert error["message"].startswith("the scripted engine cannot train models")
    assert (await app.ledger.balance(me["id"])).total == before  # nothing held
    assert (await alice.get("/api/v1/jobs")).json()["jobs"] == []


async def test_the_webhook_route_needs_an_engine_that_declares_webhooks(
    alice: httpx.AsyncClient,
) -> None:
    answer = await alice.post("/api/v1/webhooks/comfydeploy/tok", content=b"{}")
    assert answer.status_code == 404
    assert "not the active engine" in error_of(answer)["message"]


@pytest.mark.parametrize("engine", [Webhooks], indirect=True)
async def test_a_declared_webhook_ability_gets_the_body(
    engine: Webhooks, alice: httpx.AsyncClient
) -> None:
    answer = await alice.post("/api/v1/webhooks/comfydeploy/tok", content=b'{"x": 1}')
    assert answer.status_code == 204, answer.text
    assert engine.heard == [("tok", b'{"x": 1}')]
