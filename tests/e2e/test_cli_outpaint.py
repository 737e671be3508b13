"""``stationthis zoom-out`` and ``stationthis pan``: the real command on the preview engine —
a dry run prices exactly what is then charged, the image grows on the chosen sides, and a
direction that is not one is refused before anything is held."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from tests.e2e.test_cli_workflows import Station, price, ran


def test_zoom_out_and_pan_from_the_command_line(tmp_path: Path) -> None:
    station = Station(tmp_path)
    picture = tmp_path / "upload.png"
    Image.new("RGB", (160, 96), (30, 160, 90)).save(picture)
    put = station.ok("upload", "local", str(picture))
    uploaded = re.search(r"^media: (\w+) \(160×96\)$", put.out, re.MULTILINE)
    assert uploaded, str(put)
    media = uploaded.group(1)
    dry_zoom, dry_pan, sideways = station.many([
        ["zoom-out", media, "--factor", "2", "--dry-run"],
        ["pan", media, "left", "--dry-run"],
        ["pan", media, "sideways"],
    ])
    assert "zoom out ×2 of" in dry_zoom.out and "with outpaint" in dry_zoom.out
    assert sideways.code != 0 and "pan left, up, right or down" in sideways.err, str(sideways)

    zoomed = ran(station.ok("zoom-out", media, "--factor", "2"))
    panned = ran(station.ok("pan", media, "left"))
    assert zoomed.size == (320, 192) and panned.size == (240, 96)  # 80 more on the left
    assert zoomed.cost == price(dry_zoom) and panned.cost == price(dry_pan)
    with Image.open(panned.image) as im:  # the original pixels are kept, on the right
        assert im.convert("RGB").getpixel((200, 50)) == (30, 160, 90)
