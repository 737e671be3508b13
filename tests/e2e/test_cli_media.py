"""End to end: ``stationthis media prune`` finds the stored files no media row refers to,
lists them with ``--dry-run`` and deletes them otherwise, never touching a file in use or one
written in the last hour; and a hostile dataset zip is refused with one clear line."""

from __future__ import annotations

import io
import os
import re
import time
import zipfile
from pathlib import Path

from tests.e2e.test_cli import Station, station  # noqa: F401  (the fixture)
from tests.e2e.test_cli_train import dataset_id, photos


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_media_prune_removes_only_old_files_without_a_row(
    station: Station, tmp_path: Path,  # noqa: F811
) -> None:
    station.ok("users", "add", "alice")
    ds = dataset_id(station.ok("dataset", "create", "Pets", "-u", "alice"))
    station.ok("dataset", "add", ds, *map(str, photos(tmp_path, 2)), "-u", "alice")
    media = station.data_dir / "media"
    in_use = files_under(media)
    assert len(in_use) == 2
    owner = next(iter(in_use)).split("/")[0]
    (media / owner / "lost.png").write_bytes(b"x" * 10)
    (media / owner / "new.png").write_bytes(b"y" * 5)
    old = time.time() - 3 * 3600
    for name in in_use | {f"{owner}/lost.png"}:
        os.utime(media / name, (old, old))

    listed = station.ok("media", "prune", "--dry-run")
    assert listed.out.splitlines() == [f"would delete {owner}/lost.png (10 bytes)",
                                       "1 orphaned file, would free 10 bytes"]
    assert (media / owner / "lost.png").exists()

    pruned = station.ok("media", "prune")
    assert f"deleted {owner}/lost.png (10 bytes)" in pruned.out
    assert files_under(media) == in_use | {f"{owner}/new.png"}
    assert "0 orphaned files" in station.ok("media", "prune").out


def test_a_zip_bomb_is_refused_with_one_line(station: Station, tmp_path: Path) -> None:  # noqa: F811
    station.ok("users", "add", "alice")
    ds = dataset_id(station.ok("dataset", "create", "Bombed", "-u", "alice"))
    bomb = tmp_path / "bomb.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(3):
            archive.writestr(f"{i}.png", bytes(8 * 1024 * 1024))
    bomb.write_bytes(buffer.getvalue())
    refused = station("dataset", "add", ds, str(bomb), "-u", "alice")
    assert refused.code == 1, str(refused)
    assert "Traceback" not in refused.err
    assert re.fullmatch(r"error: '0\.png' expands \d+ times .*zip bomb", refused.err_lines[-1])
    shown = station.ok("dataset", "show", ds, "-u", "alice")
    assert "Images 0/20" in shown.out
