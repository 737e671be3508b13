"""``stationthis inpaint IMAGE MASK PROMPT``: files in, the price first (``--dry-run`` stops
there), the region repainted on the preview engine, a bad mask refused for nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.e2e.test_cli import Station, pixels, station  # noqa: F401  (the fixture)


def write(path: Path, img: Image.Image) -> Path:
    img.save(path, "PNG")
    return path


def test_inpaint_files_dry_run_then_run(station: Station, tmp_path: Path) -> None:  # noqa: F811
    photo = write(tmp_path / "photo.png", Image.new("RGB", (96, 64), (20, 90, 160)))
    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (32, 16, 64, 48))
    mask_file = write(tmp_path / "mask.png", mask)
    before = station.balance("local")
    priced = station.ok("inpaint", str(photo), str(mask_file), "a red kite", "--dry-run")
    assert "inpaint with inpaint:" in priced.out and "96×64" in priced.out
    assert "dry run: nothing was held or run" in priced.out
    assert station.balance("local") == before

    done = station.ok("inpaint", str(photo), str(mask_file), "a red kite", "--seed", "7",
                      "--out", str(tmp_path / "out"))
    assert "seed 7" in done.out
    (made,) = list((tmp_path / "out").glob("*.png"))
    after, source = pixels(made), pixels(photo)
    inside = np.asarray(mask) > 0
    assert (after[~inside] == source[~inside]).all() and (after[inside] != source[inside]).any()

    write(tmp_path / "black.png", Image.new("L", (96, 64), 0))
    empty = station("inpaint", str(photo), str(tmp_path / "black.png"), "a kite", "--dry-run")
    assert empty.code != 0 and "the mask is empty" in empty.err
    write(tmp_path / "small.png", Image.new("L", (32, 32), 255))
    small = station("inpaint", str(photo), str(tmp_path / "small.png"), "a kite")
    assert small.code != 0 and "the mask is 32×32 but the image is 96×64" in small.err
