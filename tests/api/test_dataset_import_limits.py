"""Dataset zip import through the API: odd entry names import (they were a 500), hostile
zips are a 400 that names the entry and the limit, and nothing is added."""

from __future__ import annotations

import io
import zipfile

import httpx

from tests.api.conftest import error_of
from tests.support.scripted import png


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_zip_import_names_and_limits(alice: httpx.AsyncClient) -> None:
    dataset = (await alice.post("/api/v1/datasets", json={"name": "z"})).json()
    url = f"/api/v1/datasets/{dataset['id']}/import"

    odd = zip_of({"./x.png": png(96, 96, (1, 2, 3)), "./x.txt": b"z one",
                  "a//b.png": png(96, 96, (3, 2, 1)), "a/b.txt": b"z two"})
    answer = await alice.post(url, files={"file": ("d.zip", odd, "application/zip")})
    assert answer.status_code == 200, answer.text
    assert answer.json()["added"] == 2
    assert [i["caption"] for i in answer.json()["dataset"]["images"]] == ["z two", "z one"]

    for entries, message in [
        ({"a.png": png(), "a.txt": bytes(1 << 20)},
         "'a.txt' is 1 MB; a caption file may be at most 64 KB"),
        ({"../up.png": png()}, "'../up.png' points outside the zip (..)"),
        ({f"{i}.png": bytes(5 << 20) for i in range(2)}, "'0.png' expands"),
    ]:
        refused = await alice.post(url, files={"file": ("d.zip", zip_of(entries),
                                                        "application/zip")})
        assert refused.status_code == 400, refused.text
        assert error_of(refused)["message"].startswith(message)
    images = (await alice.get(f"/api/v1/datasets/{dataset['id']}")).json()["images"]
    assert len(images) == 2
