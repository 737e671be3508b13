"""End to end: ``stationthis collections …`` and ``stationthis cook …`` — the real command on
the preview engine in a fresh data directory: build, cook, review, share, link, export."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

STATIONTHIS = Path(sys.executable).parent / "stationthis"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"


class Station:
    def __init__(self, root: Path) -> None:
        self.workdir = root / "work"
        self.workdir.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONTHIS_")}
        self.env.update(STATIONTHIS_DATA_DIR=str(root / "data"),
                        STATIONTHIS_ALLOWANCE__INTERVAL_SECONDS="4000000000")

    def __call__(self, *args: str) -> Result:
        done = subprocess.run([str(STATIONTHIS), *args], cwd=self.workdir, env=self.env,
                              text=True, capture_output=True, timeout=180,
                              stdin=subprocess.DEVNULL)
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.code == 0, str(result)
        return result

    def fails(self, *args: str) -> Result:
        result = self(*args)
        assert result.code != 0, str(result)
        assert "Traceback" not in result.err, str(result)
        return result


CONFIG = {
    "master_prompt": "a [animal] at [time], ink drawing",
    "trait_types": [{"name": "animal", "traits": [{"name": "fox", "weight": 2}, "owl"]},
                    {"name": "time", "traits": ["dawn", "dusk"]}],
    "supply": 4, "seed": 5, "options": {"width": 256, "height": 256},
}


def test_build_cook_review_share_link_and_export(tmp_path: Path) -> None:
    st = Station(tmp_path)
    for name in ("alice", "bob", "carol"):
        st.ok("users", "add", name)
    made = st.ok("collections", "create", "Night Shift", "-u", "alice",
                 "--description", "animals at odd hours").out
    cid = re.search(r"^collection (\w+) 'Night Shift'$", made, re.MULTILINE)
    assert cid, made
    c = cid.group(1)
    sketch = tmp_path / "sketch.png"
    Image.new("RGB", (64, 64), (20, 90, 200)).save(sketch)

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**CONFIG, "master_prompt": "a [animal] in a [hat]"}))
    refused = st.fails("cook", "configure", c, str(bad), "-u", "alice")
    assert "error: the master prompt uses [hat] but there is no trait type named 'hat'" \
        in refused.err
    good = tmp_path / "cook.json"
    good.write_text(json.dumps(CONFIG))
    configured = st.ok("cook", "configure", c, str(good), "-u", "alice").out
    assert "cook configuration saved: 4 pieces, 2 trait types" in configured
    assert "#1: a " in configured and "[" not in configured.split("\n", 1)[1]
    quote = st.ok("cook", "quote", c, "-u", "alice").out
    assert re.search(r"^cook: 4 pieces × (\d+) = (\d+) points \(you have 1000\)$", quote,
                     re.MULTILINE), quote
    dry = st.ok("cook", "start", c, "-u", "alice", "--dry-run").out
    assert dry == quote + "dry run: nothing was held or run\n"
    assert "nothing queued" in st.ok("status", "alice").out  # no piece was started
    cooked = st.ok("cook", "start", c, "-u", "alice")
    assert "finished 4/4 made · 0 failed" in cooked.out, str(cooked)
    assert "4/4" in cooked.err  # progress
    pieces = st.ok("cook", "pieces", c, "-u", "alice").out
    assert len(re.findall(r"^  #\d+\s+done  \[animal: \w+, time: \w+\]$", pieces,
                          re.MULTILINE)) == 4, pieces
    st.ok("cook", "keep", c, "1", "2", "-u", "alice")
    st.ok("cook", "reject", c, "3", "-u", "alice")
    st.ok("collections", "add", c, str(sketch), "-u", "alice", "--description", "sketch")
    status = st.ok("cook", "status", c, "-u", "alice").out
    assert "finished 4/4 made · 0 failed · 2 kept · 1 rejected" in status

    # sharing: bob can look but not change
    st.ok("collections", "share", c, "bob", "-u", "alice", "--permission", "view")
    assert "Night Shift" in st.ok("collections", "list", "--shared", "-u", "bob").out
    denied = st.fails("collections", "rename", c, "Mine", "-u", "bob")
    assert "error: you can only view this collection" in denied.err
    hidden = st.fails("collections", "show", c, "-u", "carol")
    assert "error: no such collection" in hidden.err
    shown = st.ok("collections", "show", c, "-u", "bob").out
    assert "3 items" in shown and "[animal:" in shown

    # a link, then revoked
    link = re.search(r"^link (\w{32}) \(expires ", st.ok("collections", "link", c, "-u",
                                                           "alice", "--expires", "24h").out,
                     re.MULTILINE)
    assert link
    assert "Night Shift · 3 items (read-only)" in st.ok("collections", "open",
                                                        link.group(1)).out
    st.ok("collections", "link", c, "-u", "alice", "--revoke", link.group(1))
    assert "revoked by the collection's owner" in st.fails("collections", "open",
                                                           link.group(1)).err

    # export in both layouts; the captions one becomes a dataset
    st.ok("collections", "export", c, "nft.zip", "-u", "alice")
    archive = zipfile.ZipFile(st.workdir / "nft.zip")
    assert sorted(archive.namelist()) == ["collection.json", "images/1.png", "images/2.png",
                                          "images/3.png", "metadata/1.json",
                                          "metadata/2.json", "metadata/3.json"]
    first = json.loads(archive.read("metadata/1.json"))
    assert first["name"] == "Night Shift #1" and len(first["attributes"]) == 2
    assert Image.open(io.BytesIO(archive.read("images/1.png"))).size == (256, 256)
    st.ok("collections", "export", c, "captions.zip", "-u", "alice", "--layout", "captions")
    captions = zipfile.ZipFile(st.workdir / "captions.zip")
    assert captions.read("003.txt").decode() == "sketch"
    made_set = st.ok("collections", "to-dataset", c, "night set", "-u", "alice").out
    assert re.search(r"^dataset \w+ 'night set' with 3 images$", made_set, re.MULTILINE)


@pytest.mark.parametrize("args, message", [
    (["collections", "delete", "x", "-u", "alice"], "add --yes to confirm"),
    (["collections", "export", "x", "out.zip", "--layout", "pdf"], "nft or captions"),
])
def test_refusals_before_anything_runs(tmp_path: Path, args: list[str], message: str) -> None:
    assert message in Station(tmp_path).fails(*args).err
