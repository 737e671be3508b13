"""End to end: regenerate, variations, tweak, upscale, background removal, uploads, history,
seeds, reproducibility cards, status and cancel — the real ``stationthis`` command on the
preview engine, in a fresh data directory (as tests/e2e/test_cli.py runs it)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.queue import WakingQueue
from stationthis.core.users import Identity
from stationthis.workflows.make_image import Request

STATIONTHIS = Path(sys.executable).parent / "stationthis"
NO_REFILL = {"STATIONTHIS_ALLOWANCE__INTERVAL_SECONDS": "4000000000"}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


class Station:
    """``stationthis`` in its own working and data directory, without stray settings."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.workdir = root / "work"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = root / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONTHIS_")}
        self.env.update(STATIONTHIS_DATA_DIR=str(self.data_dir), **NO_REFILL)

    def __call__(self, *args: str) -> Result:
        return self.many([list(args)])[0]

    def many(self, commands: list[list[str]]) -> list[Result]:
        """Run commands side by side (each spends ~1 s just importing) and collect them.
        Only for commands that run no job: see ``flow``."""
        started = [
            subprocess.Popen(
                [str(STATIONTHIS), *args], cwd=self.workdir, env=self.env, text=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            for args in commands
        ]
        results = []
        for process in started:
            try:
                out, err = process.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise
            results.append(Result(process.returncode, out, err))
        return results

    def all_ok(self, commands: list[list[str]]) -> list[Result]:
        results = self.many(commands)
        for result in results:
            assert result.code == 0, str(result)
        return results

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.code == 0, str(result)
        return result

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, allowance={"interval_seconds": 4_000_000_000},
                        _env_file=None)


@dataclass(frozen=True)
class Ran:
    """What a command that runs a job printed."""

    result: Result
    image: Path
    size: tuple[int, int]
    media: str
    job: str
    seed: int | None
    cost: int
    balance: int


def ran(result: Result) -> Ran:
    image = re.search(r"^image: (.+\.png) \((\d+)×(\d+)\)$", result.out, re.MULTILINE)
    media = re.search(r"^media: (\w+)$", result.out, re.MULTILINE)
    tail = re.search(r"^job (\w+)(?: · seed (\d+))? · cost (\d+) points .* · balance (\d+)$",
                     result.out, re.MULTILINE)
    assert image and media and tail, str(result)
    return Ran(result, Path(image.group(1)), (int(image.group(2)), int(image.group(3))),
               media.group(1), tail.group(1), int(tail.group(2)) if tail.group(2) else None,
               int(tail.group(3)), int(tail.group(4)))


def price(result: Result) -> int:
    found = re.search(r": (\d+) points \(you have \d+\)$", result.out, re.MULTILINE)
    assert found and "dry run: nothing was held or run" in result.out, str(result)
    return int(found.group(1))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"), dtype=np.int16)


@dataclass(frozen=True)
class Flow:
    station: Station
    job: str
    media: str
    original: Path
    prices: dict[str, int]
    runs: dict[str, Ran]
    history: Result


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """One ``make``, then every follow-up on its job and image, in one data directory."""
    root = tmp_path_factory.mktemp("again")
    station = Station(root)
    station.ok("make", "a red fox", "--seed", "7")
    last = station.ok("history", "local", "--last", "1").out
    job = re.search(r"^\S+ \S+  (\w+)  make@", last, re.MULTILINE)
    output = re.search(r"^    outputs: (\w+)$", last, re.MULTILINE)
    assert job and output, last
    job_id, media = job.group(1), output.group(1)
    original = next((station.data_dir / "media").rglob(f"{media}.png"))
    picture = root / "upload.png"
    Image.new("RGB", (200, 100), (30, 160, 90)).save(picture)
    put, saved = station.all_ok([["upload", "local", str(picture)],
                                 ["card", "local", media, "--json"]])
    uploaded = re.search(r"^media: (\w+) \(200×100\)$", put.out, re.MULTILINE)
    assert uploaded, str(put)
    card = root / "card.json"
    card.write_text(saved.out)
    commands = {
        "regen": ["regen", job_id],
        "tweak": ["tweak", job_id, "steps=30", "cfg=5"],
        "vary": ["vary", media, "--strength", "0.3"],
        "upscale": ["upscale", media, "--scale", "4"],
        "rmbg": ["rmbg", media],
        "upscale-upload": ["upscale", uploaded.group(1), "--scale", "2"],
        "rerun": ["rerun", str(card)],
    }
    names = list(commands)
    dry = station.all_ok([[*commands[name], "--dry-run"] for name in names])
    prices = {name: price(result) for name, result in zip(names, dry, strict=True)}
    # One at a time: each command that runs jobs is also a worker that, at its start, takes
    # over every unfinished job in the database (another command's too).
    runs = {name: ran(station.ok(*commands[name])) for name in names}
    history = station.ok("history", "local", "--last", "20")
    return Flow(station, job_id, media, original, prices, runs, history)


def test_dry_runs_price_exactly_what_is_then_charged(flow: Flow) -> None:
    for name, run in flow.runs.items():
        assert run.cost == flow.prices[name], name
    spent = 15 + sum(run.cost for run in flow.runs.values())  # 15: the first make
    assert flow.station.ok("points", "balance", "local").out.startswith(
        f"local: {1000 - spent} points")


def test_regen_has_a_new_seed_and_a_new_picture(flow: Flow) -> None:
    regen = flow.runs["regen"]
    assert regen.seed is not None and regen.seed != 7 and regen.size == (512, 512)
    assert not np.array_equal(pixels(regen.image), pixels(flow.original))


def test_tweak_keeps_the_seed_and_changes_the_price(flow: Flow) -> None:
    tweak = flow.runs["tweak"]
    assert tweak.seed == 7 and tweak.cost == 20  # 15 + (30 − 20 steps) × 0.5
    assert f"tweak of {flow.job} with make" in tweak.result.out


def test_vary_upscale_and_rmbg_of_an_output_and_an_upload(flow: Flow) -> None:
    assert "with img2img" in flow.runs["vary"].result.out
    assert flow.runs["vary"].size == (512, 512)
    assert flow.runs["upscale"].size == (2048, 2048) and flow.runs["upscale"].seed is None
    assert flow.runs["upscale-upload"].size == (400, 200)
    with Image.open(flow.runs["rmbg"].image) as im:
        assert im.mode == "RGBA"


def test_a_card_reruns_to_the_same_pixels(flow: Flow) -> None:
    rerun = flow.runs["rerun"]
    assert rerun.seed == 7 and rerun.job != flow.job
    assert np.array_equal(pixels(rerun.image), pixels(flow.original))


def test_history_seed_and_card_show_the_recipe(flow: Flow) -> None:
    out = flow.history.out
    for origin in ("regenerate", "tweak", "variation", "upscale", "rmbg", "rerun"):
        assert f" · {origin} of " in out, out
    assert out.count("  make@") == 4 and "  succeeded · seed 7 · cost 15 · " in out
    assert "    params: " in out and "prompt='a red fox'" in out
    by_job, by_image, card = flow.station.all_ok([
        ["seed", "local", flow.job], ["seed", "local", flow.media], ["card", "local", flow.media]
    ])
    assert by_job.out.strip() == by_image.out.strip() == "7"
    text = card.out
    assert "seed:   7" in text and 'prompt = "a red fox"' in text and "preview engine" in text


def test_mistakes_are_one_line_and_cost_nothing(flow: Flow) -> None:
    station = flow.station
    spent = 15 + sum(run.cost for run in flow.runs.values())
    station.ok("users", "add", "bob")
    cases = {
        ("regen", flow.job, "--user", "bob"): "error: no such job",
        ("seed", "bob", flow.media): "error: no such job or image",
        ("tweak", flow.job, "steps"): "error: tweak takes KEY=VALUE, got 'steps'",
        ("tweak", flow.job, "colour=red"): "error: make has no option 'colour'",
        ("upscale", flow.media, "--scale", "3"): "error: scale must be one of 2, 4",
        ("cancel", "local", flow.job): "error: that job has already succeeded",
    }
    for result, message in zip(station.many([list(a) for a in cases]), cases.values(),
                               strict=True):
        assert result.code != 0 and "Traceback" not in result.err, str(result)
        assert len(result.err_lines) == 1 and result.err_lines[0].startswith(message), str(result)
    assert station.ok("points", "balance", "local").out.startswith(f"local: {1000 - spent} ")


def test_status_shows_queued_jobs_and_cancel_releases_them(tmp_path: Path) -> None:
    station = Station(tmp_path)
    idle, nothing = station.all_ok([["status", "local"], ["cancel", "local", "all"]])
    assert idle.out.strip() == "nothing queued or running"
    assert nothing.out.strip() == "nothing to cancel"

    class Held(WakingQueue):  # runs nothing: the jobs stay queued for the commands to see
        async def enqueue(self, job_id: str) -> None: ...
        async def start(self) -> None: ...
        async def stop(self) -> None: ...

    async def queue_jobs() -> list[str]:
        app = build(station.settings(), queue=Held())
        try:
            local = await app.users.resolve(Identity("web", "local"))
            other = await app.users.resolve(Identity("web", "other"))
            made = [await app.make_image.make(who, Request("make", {"prompt": "a fox"}))
                    for who in (other, local, local)]
            return [job.id for job in made]
        finally:
            await app.stop()

    others, first, second = asyncio.run(queue_jobs())
    status, theirs = station.many([["status", "local"], ["cancel", "local", others]])
    shown = status.out.splitlines()
    assert len(shown) == 2, str(status)
    assert shown[0].startswith(f"job {first}  make  queued  #2 in the queue  0%  eta unknown")
    assert shown[1].startswith(f"job {second}  make  queued  #3 in the queue")
    assert "(holds 15 points)" in shown[0]
    assert theirs.err_lines == ["error: no such job"]
    assert station.ok("cancel", "local", first).out.strip() == (
        f"cancelled {first} (released 15 points)")
    assert station.ok("cancel", "local", "all").out.strip() == (
        f"cancelled {second} (released 15 points)")
    status, mine, other = station.all_ok(
        [["status", "local"], ["points", "balance", "local"], ["points", "balance", "other"]])
    assert status.out.strip() == "nothing queued or running"
    assert mine.out.startswith("local: 1000 points")
    assert other.out.startswith("other: 985 points")
