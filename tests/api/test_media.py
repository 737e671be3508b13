"""Media: upload through the hardened loader, download, thumbnails; size limits; a corrupt
image; and what belongs to someone else does not exist (404)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import httpx
import pytest
from PIL import Image

from stationthis.bootstrap import build
from stationthis.config import Settings
from tests.api.conftest import client_for, error_of, finished, sign_up
from tests.support.scripted import ScriptedEngine, png


def jpeg(width: int = 300, height: int = 200) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 220)).save(buf, "JPEG")
    return buf.getvalue()


async def upload(client: httpx.AsyncClient, data: bytes, name: str = "a.jpg") -> httpx.Response:
    return await client.post("/api/v1/media", files={"file": (name, data, "image/jpeg")})


async def test_upload_download_and_thumbnail(alice: httpx.AsyncClient) -> None:
    answer = await upload(alice, jpeg(300, 200))
    assert answer.status_code == 201, answer.text
    item = answer.json()
    assert (item["width"], item["height"]) == (300, 200)
    assert item["media_type"] == "image/png" and item["kind"] == "upload"
    file = await alice.get(item["url"])
    assert file.status_code == 200 and file.content.startswith(b"\x89PNG")  # re-encoded
    assert Image.open(io.BytesIO(file.content)).size == (300, 200)
    thumb = await alice.get(item["thumbnail_url"])
    assert thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 256
    assert (await alice.get(f"/api/v1/media/{item['id']}")).json() == item


async def test_a_corrupt_or_foreign_file_is_refused_with_a_reason(
    alice: httpx.AsyncClient
) -> None:
    corrupt = await upload(alice, jpeg()[:300])
    assert corrupt.status_code == 400
    assert error_of(corrupt)["code"] == "invalid_image"
    text = await upload(alice, b"hello, I am not a picture", "notes.txt")
    assert text.status_code == 400 and error_of(text)["code"] == "invalid_image"
    missing = await alice.post("/api/v1/media", files={})
    assert missing.status_code == 422 and error_of(missing)["code"] == "validation_error"


async def test_bodies_and_uploads_over_the_limits_are_refused(
    make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(max_upload_bytes=50_000, web={"max_json_bytes": 4096})
    async with build(settings, engine=ScriptedEngine()) as app:
        async with client_for(app) as client:
            await sign_up(client, "alice")
            big = await upload(client, b"\xff\xd8" + b"x" * 200_000)
            assert big.status_code == 413 and error_of(big)["code"] == "too_large"
            json_body = await client.post("/api/v1/quotes",
                                          json={"options": {"prompt": "x" * 10_000}})
            assert json_body.status_code == 413 and error_of(json_body)["code"] == "too_large"

            async def chunks():  # no Content-Length: counted as it arrives
                for _ in range(10):
                    yield b"x" * 1000

            streamed = await client.post("/api/v1/quotes", content=chunks(),
                                         headers={"content-type": "application/json"})
            assert streamed.status_code == 413 and error_of(streamed)["code"] == "too_large"
            # just under the byte limit of the framing but over the file limit itself
            slightly = await upload(client, b"\xff\xd8" + b"x" * 52_000)
            assert slightly.status_code == 413
            assert (await client.get("/api/v1/history")).json() == []


async def test_another_users_objects_do_not_exist(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    job = (await alice.post("/api/v1/jobs", json={"options": {"prompt": "a fox"}})).json()
    output = (await finished(alice, job["id"]))["outputs"][0]
    photo = (await upload(alice, jpeg())).json()["id"]
    dataset = (await alice.post("/api/v1/datasets", json={"name": "cats"})).json()["id"]

    for path in (f"/api/v1/jobs/{job['id']}", f"/api/v1/jobs/{job['id']}/events",
                 f"/api/v1/history/{job['id']}", f"/api/v1/media/{output}",
                 f"/api/v1/media/{output}/file", f"/api/v1/media/{photo}/thumbnail",
                 f"/api/v1/media/{output}/card", f"/api/v1/datasets/{dataset}",
                 f"/api/v1/datasets/{dataset}/export"):
        answer = await bob.get(path)
        assert answer.status_code == 404, path
        assert error_of(answer)["code"] == "not_found"
    for path, body in ((f"/api/v1/jobs/{job['id']}/cancel", None),
                       (f"/api/v1/jobs/{job['id']}/regenerate", None),
                       (f"/api/v1/media/{output}/upscale", {"scale": 2}),
                       (f"/api/v1/media/{photo}/variations", {"prompt": "mine now"}),
                       (f"/api/v1/media/{output}/rmbg", None),
                       ("/api/v1/trainings/quote", {"dataset_id": dataset})):
        answer = await bob.post(path, json=body)
        assert answer.status_code == 404, path
    as_input = await bob.post("/api/v1/jobs", json={"tool": "img2img", "options": {
        "prompt": "x"}, "images": {"image": photo}})
    assert as_input.status_code == 404
    assert (await bob.delete(f"/api/v1/datasets/{dataset}")).status_code == 404
    assert (await alice.get(f"/api/v1/datasets/{dataset}")).status_code == 200  # still there
    assert (await bob.get("/api/v1/jobs")).json()["jobs"] == []


@pytest.mark.parametrize("kind", ["png", "zip"])
async def test_images_enter_datasets_only_through_the_loader(
    alice: httpx.AsyncClient, kind: str
) -> None:
    dataset = (await alice.post("/api/v1/datasets", json={"name": "bad"})).json()["id"]
    if kind == "png":
        answer = await alice.post(f"/api/v1/datasets/{dataset}/images", files=[
            ("files", ("a.png", png(), "image/png")),
            ("files", ("b.png", b"\x89PNG broken", "image/png"))])
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buffer := buf, "w") as archive:
            archive.writestr("1.png", png())
            archive.writestr("2.png", b"\x89PNG broken")
        answer = await alice.post(f"/api/v1/datasets/{dataset}/import",
                                  files={"file": ("d.zip", buffer.getvalue(), "application/zip")})
    assert answer.status_code == 400 and error_of(answer)["code"] == "invalid_image"
    assert (await alice.get(f"/api/v1/datasets/{dataset}")).json()["images"] == []  # all or none
