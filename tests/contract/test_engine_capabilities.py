"""Each engine declares exactly the optional abilities it implements (core.engine.Capability):
a declared ability has its method with the protocol's parameters, an undeclared one has none,
and training is declared where the engine runs the training tool."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stationthis.core import engine as port
from stationthis.core.engine import DOING, METHODS, Capability, Engine
from stationthis.core.errors import Unsupported
from stationthis.engines.comfydeploy import ComfyDeployEngine
from stationthis.engines.comfyui import ComfyUIEngine, ServerPool
from stationthis.engines.diffusers.engine import CATEGORIES, DiffusersEngine
from stationthis.engines.preview import PreviewEngine
from stationthis.engines.preview.pipelines import PIPELINES
from tests.support.scripted import ScriptedEngine

PROTOCOLS = {
    Capability.CHECK_GRAPH: port.GraphChecker,
    Capability.SERVERS: port.ServerLister,
    Capability.WEBHOOKS: port.WebhookReceiver,
    Capability.LORA_FILES: port.LoraLister,
}
NOWHERE = "http://127.0.0.1:9"  # nothing is asked of it: the engines are only inspected


def deploy(deployments: dict[str, str]) -> ComfyDeployEngine:
    return ComfyDeployEngine(NOWHERE, "key", deployments, webhook_secret=b"secret")


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[dict[str, Engine]]:
    made: dict[str, Engine] = {
        "preview": PreviewEngine(),
        "comfyui": ComfyUIEngine(ServerPool([NOWHERE], client_id="contract")),
        "comfydeploy": deploy({"make": "d-1"}),
        "comfydeploy+train": deploy({"make": "d-1", "train": "d-2"}),
        "diffusers": DiffusersEngine(tmp_path),
        "scripted": ScriptedEngine(),
    }
    yield made
    for engine in made.values():
        await engine.aclose()


def test_every_ability_has_words_and_every_method_a_protocol() -> None:
    assert set(DOING) == set(Capability)
    assert set(PROTOCOLS) == set(METHODS)


async def test_declared_abilities_match_the_methods(engines: dict[str, Engine]) -> None:
    for name, engine in engines.items():
        assert isinstance(engine, Engine), name
        assert all(isinstance(c, Capability) for c in engine.capabilities), name
        for ability, method in METHODS.items():
            implemented = callable(getattr(engine, method, None))
            declared = ability in engine.capabilities
            assert implemented == declared, (
                f"{name}: {ability} is {'' if declared else 'not '}declared but {method}() is "
                f"{'' if implemented else 'not '}implemented")
            if declared:
                wanted = inspect.signature(getattr(PROTOCOLS[ability], method))
                have = inspect.signature(getattr(engine, method))
                assert list(have.parameters) == list(wanted.parameters)[1:], (name, method)
                assert (inspect.iscoroutinefunction(getattr(engine, method))
                        == inspect.iscoroutinefunction(getattr(PROTOCOLS[ability], method)))


async def test_training_is_declared_where_the_training_tool_runs(
    engines: dict[str, Engine],
) -> None:
    trains = {name for name, engine in engines.items() if Capability.TRAIN in engine.capabilities}
    assert trains == {"preview", "comfyui", "comfydeploy+train", "diffusers", "scripted"}
    assert "train" in PIPELINES and "train" in CATEGORIES  # what the local engines run


async def test_a_missing_ability_is_refused_by_name(engines: dict[str, Engine]) -> None:
    with pytest.raises(Unsupported, match="the preview engine cannot list backend servers"):
        port.require(engines["preview"], Capability.SERVERS)
    port.require(engines["comfyui"], Capability.SERVERS)
    assert port.server_lister(engines["preview"]) is None
    assert port.webhook_receiver(engines["comfyui"]) is None
    assert port.graph_checker(engines["comfydeploy"]) is None
    assert [s.url for s in port.server_lister(engines["comfyui"]).servers()] == [NOWHERE]


async def test_the_servers_lora_files_are_listed_where_declared(
    engines: dict[str, Engine],
) -> None:
    listers = {name for name, engine in engines.items() if port.lora_lister(engine) is not None}
    assert listers == {"preview", "comfyui"}
    preview = port.lora_lister(engines["preview"])
    assert preview is not None and await preview.lora_names()  # its fixed looks
    with pytest.raises(Unsupported, match="the diffusers engine cannot list its servers' LoRA"):
        port.require(engines["diffusers"], Capability.LORA_FILES)
