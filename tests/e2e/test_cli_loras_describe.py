"""End to end: ``stationthis loras list|set`` on the preview engine's LoRAs, a LoRA used by
its operator-set name with the price factor in the quote, an unknown one refused with the
close names, and ``stationthis describe IMAGE`` printing prompts that run."""

from __future__ import annotations

import asyncio
import html
import json
import re
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.platforms.web.app import create_app
from tests.e2e.test_cli import Station, station  # noqa: F401  (the fixture)
from tests.web_pages.conftest import Browser


def picture(folder: Path) -> Path:
    """Blue sky over green land: the describer should see a landscape."""
    pixels = np.zeros((96, 128, 3), np.uint8)
    pixels[:40] = (60, 110, 220)
    pixels[40:] = (60, 160, 60)
    path = folder / "field.png"
    Image.fromarray(pixels).save(path)
    return path


def points(result_out: str) -> int:
    found = re.search(r": (\d+) points", result_out)
    assert found, result_out
    return int(found.group(1))


def test_operators_name_and_price_server_loras_and_users_use_them(
    station: Station, tmp_path: Path,  # noqa: F811
) -> None:
    listed = station.ok("loras", "list")
    assert "preview-ink" in listed.out and "preview-sepia.safetensors" in listed.out
    refused = station("loras", "set", "preview-inc", "--name", "Ink")
    assert refused.code == 2 and "preview-ink.safetensors" in refused.err, str(refused)
    station.ok("loras", "set", "preview-ink", "--name", "Ink", "--triggers", "inky,inkstyle",
               "--price-factor", "2")
    listed = station.ok("loras", "list")
    assert re.search(r"Ink\s+×2\s+triggers: inky, inkstyle\s+file: preview-ink", listed.out)

    station.ok("users", "add", "alice")
    plain = points(station.ok("make", "a fox", "-u", "alice", "--dry-run").out)
    inked = points(station.ok("make", "a fox <lora:Ink:0.7>", "-u", "alice", "--dry-run").out)
    assert inked == 2 * plain
    by_trigger = points(station.ok("make", "an inky fox", "-u", "alice", "--dry-run").out)
    assert by_trigger == 2 * plain
    made = station.ok("make", "a fox", "--set", "loras=Ink", "-u", "alice", "--seed", "3")
    assert f"cost {2 * plain} points" in made.out

    unknown = station("make", "a fox <lora:Inc>", "-u", "alice")
    assert unknown.code != 0 and "Ink" in unknown.err + unknown.out, str(unknown)
    assert "Traceback" not in unknown.err


def audit_page(of: Station) -> str:
    """The admin console's audit log (/admin/audit) on the station's data, as an admin sees
    it."""
    settings = Settings(data_dir=of.data_dir, _env_file=None)  # type: ignore[call-arg]

    async def body() -> str:
        app = build(settings)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(app, manage_lifecycle=False)),
                base_url="http://testserver",
            ) as client:
                root = Browser(client)
                await root.sign_up("root")
                assert app.operators is not None
                await app.operators.set_admin(
                    None, await app.users.resolve(Identity("web", "root")), True)
                page = await root.get("/admin/audit")
                assert page.status_code == 200, page.text
                return page.text
        finally:
            await app.stop()

    return asyncio.run(body())


def test_loras_set_writes_the_audit_entry_the_console_shows(
    station: Station,  # noqa: F811
) -> None:
    station.ok("loras", "set", "preview-ink", "--name", "Ink", "--triggers", "inky",
               "--price-factor", "2")
    rows = re.findall(r"<tr><td>.*?</tr>", audit_page(station), re.DOTALL)
    lora_rows = [row for row in rows if "set LoRA" in row]
    assert len(lora_rows) == 1, rows
    cells = [html.unescape(re.sub(r"<[^>]+>", "", c))
             for c in re.findall(r"<td>(.*?)</td>", lora_rows[0], re.DOTALL)]
    _when, who, action, target, before, after, _reason = cells
    assert (who, action, target) == ("cli", "set LoRA", "lora:preview-ink.safetensors")
    was, now = json.loads(before), json.loads(after)
    assert (was["name"], was["triggers"], was["price_factor"]) == ("preview-ink", [], 1.0)
    assert (now["name"], now["triggers"], now["price_factor"]) == ("Ink", ["inky"], 2.0)


def test_describe_prints_prompts_that_run(station: Station, tmp_path: Path) -> None:  # noqa: F811
    station.ok("users", "add", "alice")
    photo = picture(tmp_path)
    dry = station.ok("describe", str(photo), "-u", "alice", "--dry-run")
    assert "describe: 2 points" in dry.out and "nothing was held" in dry.out
    done = station.ok("describe", str(photo), "-u", "alice")
    prompts = re.findall(r"^\d\. (.+)$", done.out, re.MULTILINE)
    assert 3 <= len(prompts) <= 4, done.out
    assert any("landscape" in p or "green" in p for p in prompts), prompts
    assert "cost 2 points" in done.out
    made = station.ok("make", prompts[0], "-u", "alice")
    assert "image:" in made.out
