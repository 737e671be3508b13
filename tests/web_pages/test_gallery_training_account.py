"""The gallery with its filters and cards, datasets and training, and the account page."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from PIL import Image

from stationthis.core.points import LedgerEntry
from stationthis.platforms.web.pages.format import chart, spent_per_day
from stationthis.workflows.app import App
from tests.web_pages.conftest import Browser


async def _run(browser: Browser, app: App, tool: str = "make", **fields: str) -> str:
    response = await browser.post("/studio/run", {"tool": tool, **fields})
    assert response.status_code == 303, response.text
    job_id = response.headers["location"].removeprefix("/jobs/")
    await app.jobs.wait(job_id, timeout=60)
    return job_id


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, "PNG")
    return buffer.getvalue()


# ----- gallery -----------------------------------------------------------------------------


async def test_the_gallery_shows_outputs_filtered_by_tool_and_date(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    made = await _run(browser, station_app, prompt="a red fox", seed="7")
    made_media = (await station_app.jobs.get(made)).outputs[0]
    await browser.get("/")
    up = await browser.post(f"/media/{made_media}/upscale", {"scale": "2"})
    up_job = await station_app.jobs.wait(up.headers["location"].removeprefix("/jobs/"), 60)

    everything = (await browser.get("/gallery")).text
    assert everything.count('class="output"') == 2
    only_upscale = (await browser.get("/gallery?tool=upscale")).text
    assert only_upscale.count('class="output"') == 1
    assert f'data-media-id="{up_job.outputs[0]}"' in only_upscale
    today = datetime.now(UTC).date()
    same_day = (await browser.get(f"/gallery?since={today}&until={today}")).text
    assert same_day.count('class="output"') == 2
    tomorrow = today + timedelta(days=1)
    later = (await browser.get(f"/gallery?since={tomorrow}")).text
    assert 'id="empty"' in later and 'class="output"' not in later
    bad = await browser.get("/gallery?since=yesterday")
    assert bad.status_code == 400 and "must be a date" in bad.text


async def test_an_image_page_has_its_card_download_and_rerun(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    job_id = await _run(browser, station_app, prompt="a red fox", seed="42")
    media_id = (await station_app.jobs.get(job_id)).outputs[0]
    page = (await browser.get(f"/gallery/{media_id}")).text
    card = re.search(r'<pre id="card">(.*?)</pre>', page, re.S)
    assert card and "seed:   42" in card.group(1) and "make" in card.group(1)
    assert f'href="/api/v1/media/{media_id}/file" download' in page
    download = await browser.client.get(f"/api/v1/media/{media_id}/file")
    assert download.status_code == 200 and download.content.startswith(b"\x89PNG")
    rerun = await browser.post(f"/gallery/{media_id}/rerun")
    again = await station_app.jobs.wait(rerun.headers["location"].removeprefix("/jobs/"), 60)
    assert again.params["seed"] == 42 and again.origin == "rerun"
    pixels = []
    for item_id in (media_id, again.outputs[0]):  # the same pixels (the PNG text differs)
        data = await station_app.media.read(await station_app.media.get(item_id))
        pixels.append(Image.open(io.BytesIO(data)).convert("RGB").tobytes())
    assert pixels[0] == pixels[1]


# ----- datasets and training ----------------------------------------------------------------


async def test_a_dataset_is_built_captioned_quoted_and_trained(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    await browser.get("/datasets")
    created = await browser.post("/datasets", {"name": "Snow foxes", "trigger": "snowfox"})
    assert created.status_code == 303
    url = created.headers["location"]
    dataset_id = url.removeprefix("/datasets/")

    files = [("files", (f"{i}.png", _png((40 * i, 200 - 30 * i, 90)), "image/png"))
             for i in range(1, 4)]
    uploaded = await browser.client.post(f"{url}/images", data={"csrf": browser.csrf},
                                         files=files)
    assert uploaded.status_code == 303, uploaded.text
    page = (await browser.get(url)).text
    assert "add 1 more image (at least 4 are needed)" in page
    assert re.search(r'id="train-button"\s+disabled', page)

    bad = await browser.client.post(f"{url}/images", data={"csrf": browser.csrf},
                                    files=[("files", ("x.png", b"not an image", "image/png"))])
    assert bad.status_code == 400 and "dataset-error" in bad.text
    more = await browser.client.post(f"{url}/images", data={"csrf": browser.csrf},
                                     files=[("files", ("4.png", _png((1, 2, 250)), "image/png"))])
    assert more.status_code == 303
    page = (await browser.get(url)).text
    assert "caption images 1, 2, 3, 4" in page
    ids = re.findall(r'name="caption-([0-9a-f]+)"', page)
    assert len(ids) == 4
    saved = await browser.post(f"{url}/captions",
                               {f"caption-{i}": f"a fox, picture {n}" for n, i in enumerate(ids)})
    assert saved.status_code == 303
    page = (await browser.get(url)).text
    assert 'data-ready="true"' in page and "ready to train" in page
    assert 'value="a fox, picture 2"' in page
    assert '<b id="train-price">1500 points</b>' in page  # 1000 + 4×50 + 15×20 (1500 steps)
    quote = await browser.client.get(f"{url}/quote?steps=100")
    assert quote.json()["points"] == 1220

    trained = await browser.post(f"{url}/train", {"name": "Foxes", "steps": "100"})
    assert trained.status_code == 303
    job = await station_app.jobs.wait(trained.headers["location"].removeprefix("/jobs/"), 120)
    assert job.state == "succeeded" and job.cost == 1220
    done = (await browser.get(f"/jobs/{job.id}")).text
    assert 'id="model-ready"' in done and "Foxes" in done
    listing = (await browser.get("/datasets")).text
    assert "Foxes" in listing and "snowfox" in listing
    assert f'href="/datasets/{dataset_id}"' in listing


async def test_another_users_dataset_does_not_exist(
    web: Callable[[], Browser], station_app: App,
) -> None:
    alice, bob = web(), web()
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    await alice.get("/datasets")
    created = await alice.post("/datasets", {"name": "Private", "trigger": "secretword"})
    url = created.headers["location"]
    shown = await bob.get(url)
    assert shown.status_code == 404 and "secretword" not in shown.text
    assert (await bob.client.get(f"{url}/quote")).status_code == 404
    for path in (f"{url}/captions", f"{url}/train", f"{url}/delete", f"{url}/images"):
        assert (await bob.post(path)).status_code == 404, path
    assert "secretword" not in (await bob.get("/datasets")).text
    assert (await alice.get(url)).status_code == 200  # still there


# ----- account -----------------------------------------------------------------------------


async def test_the_account_page_shows_balance_ledger_and_spending(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    job_id = await _run(browser, station_app, prompt="a fox")
    cost = (await station_app.jobs.get(job_id)).cost
    page = (await browser.get("/account")).text
    assert f'<div class="big-number" id="points">{6000 - cost}</div>' in page
    assert 'id="refill" data-seconds=' in page  # the allowance is refilling
    assert f'<a href="/jobs/{job_id}">make</a> · 1 image · <b class="ledger-points">' \
        f'{cost} points</b>' in page
    today = datetime.now(UTC).date().isoformat()
    assert f'data-day="{today}" data-points="{cost}"' in page
    assert "web:alice" in page


async def test_api_keys_are_shown_once_and_can_be_revoked(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    await browser.get("/account")
    created = await browser.post("/account/keys", {"name": "my script"})
    assert created.status_code == 303  # then shown once, on the page it redirects to
    shown = await browser.get(created.headers["location"])
    secret = re.search(r'<code id="new-key-secret">([^<]+)</code>', shown.text)
    assert secret
    api = await browser.client.get("/api/v1/balance",
                                   headers={"Authorization": f"Bearer {secret.group(1)}"})
    assert api.status_code == 200
    later = (await browser.get("/account")).text
    assert secret.group(1) not in later and "my script" in later
    key_id = re.search(r'action="/account/keys/([^/]+)/revoke"', later)
    assert key_id
    assert (await browser.post(f"/account/keys/{key_id.group(1)}/revoke")).status_code == 303
    api = await browser.client.get("/api/v1/balance",
                                   headers={"Authorization": f"Bearer {secret.group(1)}"})
    assert api.status_code == 401


async def test_settings_are_checked_and_fill_the_studio(
    web: Callable[[], Browser], station_app: App,
) -> None:
    browser = web()
    await browser.sign_up("alice")
    await browser.get("/account")
    assert (await browser.post("/account/settings", {"key": "width", "value": "768"})
            ).status_code == 303
    studio = (await browser.get("/")).text
    assert 'name="width" type="number" value="768"' in studio
    refused = await browser.post("/account/settings", {"key": "steps", "value": "100000"})
    assert refused.status_code == 400 and "steps" in refused.text
    assert (await browser.post("/account/settings", {"key": "width", "reset": "1"})
            ).status_code == 303
    assert 'name="width" type="number" value="512"' in (await browser.get("/")).text


async def test_a_link_code_merges_another_platform_account(
    web: Callable[[], Browser], station_app: App,
) -> None:
    from stationthis.core.users import Identity

    telegram = await station_app.users.resolve(Identity("telegram", "123"))
    code = await station_app.account.link_code(telegram)
    browser = web()
    await browser.sign_up("alice")
    await browser.get("/account")
    wrong = await browser.post("/account/link", {"code": "NOPE1234"})
    assert wrong.status_code == 400 and "unknown" in wrong.text
    linked = await browser.post("/account/link", {"code": code})
    assert linked.status_code == 303
    page = (await browser.get("/account")).text
    assert "telegram:123" in page and "web:alice" in page


# ----- the chart ---------------------------------------------------------------------------


def _entry(kind: str, day: date, amount: int = 0, charged: int | None = None) -> LedgerEntry:
    when = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return LedgerEntry(1, kind, "allowance", amount, charged, "job:x", None, when)


def test_points_spent_per_day_count_charges_only() -> None:
    today = date(2026, 3, 10)
    entries = [
        _entry("hold", today, -50), _entry("capture", today, 0, 30),
        _entry("release", today, 20), _entry("capture", today - timedelta(days=2), 0, 15),
        _entry("grant", today, 500), _entry("capture", today - timedelta(days=30), 0, 99),
    ]
    spent = spent_per_day(entries, today, days=7)
    assert len(spent) == 7 and min(spent) == today - timedelta(days=6)
    assert spent[today] == 30 and spent[today - timedelta(days=2)] == 15
    assert sum(spent.values()) == 45
    drawn = chart(spent, width=700, height=120)
    tallest = max(drawn.bars, key=lambda b: b.height)
    assert tallest.day == today and drawn.top == 30
    assert [b.height for b in drawn.bars if b.points == 0] == [0.0] * 5
    assert all(b.y + b.height <= 100 for b in drawn.bars)  # above the labels
