"""A person's whole path in a real browser: sign up, make an image in the studio and watch its
tile's progress reach 100%, upscale it from the tile (priced first), find both in the gallery,
build a dataset (several images uploaded at once, captions edited in place), train a model on
the preview engine and use it in a make.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PIL import Image

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None

JOB_URL = re.compile(r"/jobs/[0-9a-f]+$")


def _sign_up(page: Any, name: str) -> None:
    page.goto("/")
    expect(page.locator("#preview-banner")).to_contain_text("preview engine")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Studio")).to_be_visible()


def _wait_for_success(page: Any) -> None:
    """The job page follows the job live; when it ends, its results appear in place."""
    expect(page).to_have_url(JOB_URL)
    job = page.locator("#job")
    expect(job).to_have_attribute("data-state", "succeeded", timeout=60_000)
    expect(page.locator("#bar")).to_have_js_property("value", 100)
    expect(page.locator("#percent")).to_have_text("100%")
    expect(page.locator("#done")).to_be_visible()


def _make(page: Any, prompt: str) -> Any:
    """Run from the studio: the new job's tile appears at the top of the feed, in place."""
    page.get_by_label("prompt").fill(prompt)
    price = page.locator("#price")
    expect(price).to_have_attribute("data-state", "fits")
    expect(price).to_have_text(re.compile(r"^\d+ points$"))
    before = page.locator("#tiles .tile").count()
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#tiles .tile")).to_have_count(before + 1)
    expect(page).to_have_url(re.compile(r"/$"))
    return page.locator("#tiles .tile").first


def _tile_done(tile: Any) -> None:
    expect(tile).to_have_attribute("data-state", "succeeded", timeout=60_000)
    expect(tile.locator("figure.output img").first).to_be_visible()


def _dataset_images(folder: Path) -> list[str]:
    colours = [(200, 40, 30), (30, 160, 60), (40, 60, 200), (220, 200, 40)]
    paths = []
    for number, colour in enumerate(colours, start=1):
        path = folder / f"fox{number}.png"
        image = Image.new("RGB", (96, 96), colour)
        image.putpixel((number, number), (255, 255, 255))
        image.save(path)
        paths.append(str(path))
    return paths


def test_sign_up_make_upscale_gallery_train_and_use_the_model(page: Any, tmp_path: Path) -> None:
    _sign_up(page, "alice")

    # --- make: the price first, then live progress in its tile and the image -------------
    tile = _make(page, "a red fox in the snow")
    job_id = tile.get_attribute("data-job-id")
    tile = page.locator(f"#tile-{job_id}")
    _tile_done(tile)
    first = tile.locator("figure.output").first
    expect(first.locator("figcaption")).to_contain_text("512×512")
    made_id = first.get_attribute("data-media-id")

    # --- upscale it from the tile: its price first, then Run --------------------------------
    first.get_by_role("button", name="Upscale ×2").click()
    confirm = tile.locator(".confirm")
    expect(confirm).to_contain_text(re.compile(r"Upscale ×2: \d+ points"))
    expect(page.locator("#tiles .tile")).to_have_count(1)  # nothing runs before Run
    confirm.get_by_role("button", name=re.compile("^Run")).click()
    expect(page.locator("#tiles .tile")).to_have_count(2)
    upscaled = page.locator("#tiles .tile").first
    _tile_done(upscaled)
    expect(upscaled.locator("figure.output figcaption").first).to_contain_text("1024×1024")
    upscaled_id = upscaled.locator("figure.output").first.get_attribute("data-media-id")

    # --- both in the gallery, with a reproducibility card ----------------------------------
    page.get_by_role("link", name="Gallery").click()
    gallery = page.locator("#gallery figure.output")
    expect(gallery).to_have_count(2)
    ids = {gallery.nth(i).get_attribute("data-media-id") for i in range(2)}
    assert ids == {made_id, upscaled_id}
    page.locator(f'figure[data-media-id="{made_id}"] a').first.click()
    expect(page.locator("#card")).to_contain_text("make")
    expect(page.locator("#card")).to_contain_text('prompt = "a red fox in the snow"')

    # --- a dataset: several images at once, captions edited in place ------------------------
    page.get_by_role("link", name="Datasets").click()
    page.get_by_label("Name", exact=True).fill("Snow foxes")
    page.get_by_label(re.compile("^Trigger word")).fill("snowfox")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=re.compile("Snow foxes"))).to_be_visible()
    page.locator("#upload input[type=file]").set_input_files(_dataset_images(tmp_path))
    page.locator("#upload").get_by_role("button", name="Upload").click()
    expect(page.locator("#readiness")).to_contain_text("caption images 1, 2, 3, 4")
    expect(page.locator("#train-button")).to_be_disabled()
    captions = page.locator("#captions input[name^=caption-]")
    expect(captions).to_have_count(4)
    for i in range(4):
        captions.nth(i).fill(f"a fox, picture {i + 1}")
    page.get_by_role("button", name="Save captions").click()
    expect(page.locator("#readiness")).to_have_attribute("data-ready", "true")
    expect(page.locator("#readiness")).to_contain_text("ready to train")

    # --- train on the preview engine: quoted, then live to 100% ------------------------------
    page.get_by_label(re.compile("^Steps")).fill("100")
    expect(page.locator("#train-price")).to_have_text("1220 points")  # 1000 + 4×50 + 20
    page.get_by_role("button", name="Train").click()
    _wait_for_success(page)
    expect(page.locator("#model-ready")).to_contain_text("Snow foxes")

    # --- use the model: its trigger word in a prompt ---------------------------------------
    page.locator("#use-model").click()
    expect(page.get_by_label("prompt")).to_have_value(re.compile(r"^snowfox, "))
    page.get_by_label("prompt").press("End")
    page.get_by_label("prompt").type("a fox at night")
    price = page.locator("#price")
    expect(price).to_have_attribute("data-state", "fits")
    page.get_by_role("button", name="Run", exact=True).click()
    newest = page.locator("#tiles .tile").first
    expect(newest.locator(".tile-prompt")).to_contain_text("a fox at night")
    _tile_done(newest)
    newest.get_by_role("link", name="details").click()
    _wait_for_success(page)
    page.locator("details summary", has_text="Parameters").click()
    expect(page.locator("table.params")).to_contain_text("Snow foxes")

    # --- the account shows what was spent --------------------------------------------------
    page.get_by_role("link", name="Account").click()
    expect(page.locator("#ledger")).to_contain_text("upscale · 1 image")
    expect(page.locator("#ledger")).not_to_contain_text("capture")
    bars = page.locator("#spent-chart rect[data-points]")
    expect(bars).to_have_count(14)
    assert int(bars.nth(13).get_attribute("data-points") or 0) > 1220
