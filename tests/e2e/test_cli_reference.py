"""``stationthis make PROMPT --tool reference --set image=…``: the reference given as a file
or as a media id, the price first (``--dry-run`` stops there), a picture of the reference's
size on the preview engine; without an image it is refused clearly, for nothing."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from tests.e2e.test_cli import Station, station  # noqa: F401  (the fixture)


def test_make_with_a_reference_file_or_media_id(station: Station, tmp_path: Path  # noqa: F811
                                                ) -> None:
    photo = tmp_path / "sketch.png"
    Image.new("RGB", (96, 64), (200, 60, 20)).save(photo, "PNG")
    before = station.balance("local")
    priced = station.ok("make", "a castle", "--tool", "reference", "--set",
                        f"image={photo}", "--dry-run")
    assert re.search(r"^reference: \d+ points", priced.out, re.M), priced.out
    assert "96×64" in priced.out and "dry run: nothing was held or run" in priced.out
    assert station.balance("local") == before

    uploaded = station.ok("upload", "local", str(photo))
    media = re.search(r"media: (\S+) \(96×64\)", uploaded.out)
    assert media is not None, uploaded.out
    for kind in ("reference", "reference-depth"):
        done = station.ok("make", "a castle", "--tool", kind, "--set",
                          f"image={media.group(1)}", "--seed", "7", "--out",
                          str(tmp_path / kind))
        assert "seed 7" in done.out
        (made,) = list((tmp_path / kind).glob("*.png"))
        with Image.open(made) as picture:
            assert picture.size == (96, 64)
    assert station.balance("local")[0] < before[0]


def test_make_with_a_reference_tool_and_no_image_is_refused_free(
    station: Station,  # noqa: F811
) -> None:
    before = station.balance("local")
    refused = station("make", "a castle", "--tool", "reference")
    assert refused.code != 0 and "reference needs an input image" in refused.err, str(refused)
    assert len(refused.err_lines) == 1
    missing = station("make", "a castle", "--tool", "reference", "--set", "image=nope.png")
    assert missing.code != 0 and "nope.png" in missing.err, str(missing)
    assert station.balance("local") == before
