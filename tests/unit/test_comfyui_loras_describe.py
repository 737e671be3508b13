"""Server LoRAs and describe against the fake ComfyUI: the LoRA list is LoraLoader's
``lora_name`` choices (users' uploaded models left out); a LoRA named or triggered is loaded
by its file in the graph; a server without the describe tool's custom nodes refuses the job
by the node's name and nothing is charged."""

from __future__ import annotations

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import NotFound
from stationthis.core.users import Identity
from stationthis.workflows.make_image import Request
from tests.support.fake_comfyui import FakeComfyUI
from tests.support.fake_comfyui_nodes import DEFAULT_MODELS
from tests.support.scripted import png
from tests.unit.test_comfyui_engine import engine_for

USERS_OWN = "stationthis_loras/st-0123456789abcdef01234567.safetensors"


async def test_server_loras_come_from_lora_loader_and_load_by_file(settings: Settings) -> None:
    models = {**DEFAULT_MODELS, "loras": ["styles/ink_v2.safetensors", "neon.safetensors",
                                          USERS_OWN]}
    async with FakeComfyUI(models=models) as fake:
        async with build(settings, engine=engine_for(fake.url)) as app:
            assert app.server_loras is not None
            listed = await app.server_loras.all()
            assert [(lora.name, lora.file_name) for lora in listed] == [
                ("ink_v2", "styles/ink_v2.safetensors"), ("neon", "neon.safetensors")]
            await app.server_loras.set("styles/ink_v2.safetensors", name="Ink",
                                       triggers=["inkstyle"], price_factor=2)
            alice = await app.users.resolve(Identity("test", "alice"))
            await app.ledger.grant(alice.id, 1000, key="test:alice")
            job = await app.make_image.make(alice, Request("make", {
                "prompt": "an inkstyle fox <lora:neon:0.6>", "seed": 1}))
            done = await app.jobs.wait(job.id, timeout=20)
            assert done.state == "succeeded", done.error
            graph = fake.prompts[-1]["prompt"]
            loaded = {n["inputs"]["lora_name"]: n["inputs"]["strength_model"]
                      for n in graph.values() if n["class_type"] == "LoraLoader"}
            assert loaded == {"neon.safetensors": 0.6, "styles/ink_v2.safetensors": 1.0}
            texts = [n["inputs"]["text"] for n in graph.values()
                     if n["class_type"] == "CLIPTextEncode"]
            assert "an inkstyle fox" in texts  # the tag is gone, the trigger word stays
            with pytest.raises(NotFound, match="neon"):
                await app.make_image.quote(alice, Request("make", {"prompt": "x",
                                                                   "loras": ["neom"]}))


async def test_describe_without_its_custom_nodes_is_refused_free(settings: Settings) -> None:
    async with FakeComfyUI() as fake:
        async with build(settings, engine=engine_for(fake.url)) as app:
            alice = await app.users.resolve(Identity("test", "alice"))
            await app.ledger.grant(alice.id, 100, key="test:alice")
            photo = await app.media.ingest(alice.id, png(64, 64))
            before = (await app.ledger.balance(alice.id)).total
            job = await app.make_image.make(alice, Request("describe",
                                                           images={"image": photo.id}))
            done = await app.jobs.wait(job.id, timeout=20)
            assert done.state == "failed"
            assert "DownloadAndLoadFlorence2Model" in (done.error or "")
            assert "ComfyUI-Florence2" in (done.error or "")
            assert (await app.ledger.balance(alice.id)).total == before
            assert fake.prompts == []
