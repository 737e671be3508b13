"""The new tools in a real browser, one tour: make an image, vary a painted region of it (the
mask painter: a brush stroke, the price, then the job, whose tile is in the studio), zoom out
×2 from its tile (priced first), save a style and a wildcard list on /styles and run with the
style picked in the prompt bar and with ``--style NAME`` in the prompt, use a tile as a
reference, describe an image (its prompts a tap from the prompt bar) and pick one of the server's
LoRAs. At desktop (1280 px) and phone (390 px) widths the painter, /styles and the studio with
the tiles' new buttons and the LoRA list do not scroll sideways and every control is on screen.

Screenshots (inpaint, styles, tile-actions, describe, loras) go to a temporary folder; with
``STATIONTHIS_SCREENSHOTS=<folder>`` (see ``scripts/screenshots``) they are kept there — the
README's come from this test.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser.test_first_hour_browser import FITS

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
JOB_URL = re.compile(r"/jobs/[0-9a-f]+$")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("STATIONTHIS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _tab(browser: Any, base: str, viewport: dict[str, int]) -> Any:
    context = browser.new_context(base_url=base, viewport=viewport)
    context.set_default_timeout(20_000)
    return context.new_page()


def _sign_up(page: Any, name: str) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#run-form")).to_be_visible()


def _fits(page: Any, name: str) -> None:
    """Nothing scrolls sideways, every control is on screen, and a full-page screenshot is
    exactly as wide as the window."""
    width = page.viewport_size["width"]
    scroll = page.evaluate("document.scrollingElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert scroll <= inner, f"{name} scrolls sideways at {width} px: {scroll} > {inner}"
    assert page.evaluate(FITS) == [], f"{name}: controls off screen at {width} px"
    png = page.screenshot(full_page=True)
    assert Image.open(io.BytesIO(png)).width == width, f"{name}: screenshot wider than window"


def _run(page: Any, prompt: str) -> Any:
    """Run the studio's form; the new tile, once its job has succeeded."""
    page.get_by_label("prompt").fill(prompt)
    expect(page.locator("#price")).to_have_attribute("data-state", "fits")
    before = page.locator("#tiles .tile").count()
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#tiles .tile")).to_have_count(before + 1)
    job = page.locator("#tiles .tile").first.get_attribute("data-job-id")
    tile = page.locator(f"#tile-{job}")
    expect(tile).to_have_attribute("data-state", "succeeded", timeout=60_000)
    expect(tile.locator("figure.output img").first).to_be_visible()
    return tile


def _paint(page: Any) -> None:
    """A brush stroke across the middle of the painter's canvas."""
    box = page.locator("#painter-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.35)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.65, box["y"] + box["height"] * 0.55, steps=8)
    page.mouse.up()
    expect(page.locator("#painter-undo")).to_be_enabled()


def _save_style(page: Any) -> None:
    page.goto("/styles")
    form = page.locator("#style-form")
    form.get_by_label("Name").fill("noir")
    form.get_by_label("Template").fill("film noir photo of {prompt}, grainy")
    form.get_by_label("Negative").fill("colour")
    form.get_by_label("Steps").fill("12")
    form.get_by_role("button", name="Save the style").click()
    expect(page.locator("#style-noir")).to_contain_text("film noir photo of {prompt}, grainy")
    lists = page.locator("#list-form")
    lists.get_by_label("Name").fill("weather")
    lists.get_by_label(re.compile("^Items")).fill("rain, fog:3, snow")
    lists.get_by_role("button", name="Save the list").click()
    expect(page.locator("#list-weather")).to_contain_text("fog:3")


def test_the_new_tools_at_desktop_width(browser: Any, service: Any, shots: Path) -> None:
    page = _tab(browser, service.url, DESKTOP)
    _sign_up(page, "tourist")
    tile = _run(page, "a quiet harbour at dawn")
    made = tile.locator("figure.output").first
    media = made.get_attribute("data-media-id")
    for name in ("Vary region", "Use as reference"):
        expect(made.get_by_role("link", name=name)).to_be_visible()
    for name in ("Zoom out ×1.5", "×2", "Pan left", "Pan up", "Pan right", "Pan down"):
        expect(made.get_by_role("button", name=name, exact=True)).to_be_visible()
    page.mouse.move(0, 0)
    _fits(page, "the studio with a tile's tools")
    tile.screenshot(path=str(shots / "tile-actions.png"))

    # --- zoom out ×2 from the tile: the price first, then a tile twice the size -------------
    made.get_by_role("button", name="×2", exact=True).click()
    confirm = tile.locator(".confirm")
    expect(confirm).to_contain_text(re.compile(r"Zoom out ×2: \d+ points"))
    expect(page.locator("#tiles .tile")).to_have_count(1)  # nothing runs before Run
    confirm.get_by_role("button", name=re.compile(r"^Run")).click()
    expect(page.locator("#tiles .tile")).to_have_count(2)
    zoomed = page.locator("#tiles .tile").first
    expect(zoomed).to_have_attribute("data-state", "succeeded", timeout=60_000)
    expect(zoomed.locator(".tile-head")).to_contain_text("outpaint")
    expect(zoomed.locator("figure.output figcaption").first).to_contain_text("1024×1024")

    # --- vary region: paint, price, run; the job's tile is in the studio ---------------------
    page.goto(f"/media/{media}/inpaint")
    expect(page.get_by_role("heading", name="Vary region")).to_be_visible()
    _paint(page)
    page.get_by_label("What the painted region should show").fill("a red sailing boat")
    page.get_by_role("button", name="Price it").click()
    run = page.locator("#painter-run")
    expect(run).to_have_text(re.compile(r"^Run · \d+ points$"))
    _fits(page, "the painter")
    page.screenshot(path=str(shots / "inpaint.png"), full_page=True)
    run.click()
    expect(page).to_have_url(JOB_URL)
    job = page.url.rsplit("/", 1)[1]
    expect(page.locator("#job")).to_have_attribute("data-state", "succeeded", timeout=60_000)
    page.goto("/")
    painted = page.locator(f"#tile-{job}")
    expect(painted.locator(".tile-head")).to_contain_text("inpaint")
    expect(painted.locator("figure.output img").first).to_be_visible()

    # --- styles: saved on /styles, picked in the prompt bar or named in the prompt -----------
    _save_style(page)
    _fits(page, "/styles")
    page.screenshot(path=str(shots / "styles.png"), full_page=True)
    page.get_by_role("link", name="Studio").click()
    page.locator("#in-style").select_option("noir")
    picked = _run(page, "a detective under a streetlamp in the __weather__")
    picked.get_by_role("link", name="details").click()
    page.locator("details summary", has_text="Parameters").click()
    params = page.locator("table.params")
    expect(params).to_contain_text(re.compile(
        r"film noir photo of a detective under a streetlamp in the (rain|fog|snow), grainy"))
    page.goto("/")
    named = _run(page, "a cat on a fire escape --style noir")
    named.get_by_role("link", name="details").click()
    page.locator("details summary", has_text="Parameters").click()
    expect(params).to_contain_text("film noir photo of a cat on a fire escape, grainy")
    expect(params).not_to_contain_text("--style")

    # --- use as reference: the studio opens on the reference tool with that image -------------
    page.goto("/")
    page.locator(f'figure[data-media-id="{media}"]').get_by_role(
        "link", name="Use as reference").click()
    expect(page.locator("#run-form")).to_have_attribute("data-category", "reference")
    expect(page.locator("input[name=image]")).to_have_value(media)
    expect(page.locator("img.input-thumb")).to_be_visible()
    referenced = _run(page, "a lighthouse in the same light")
    expect(referenced.locator(".tile-head")).to_contain_text("reference")
    page.mouse.move(0, 0)
    _fits(page, "the studio on the reference tool")


def test_the_new_tools_fit_a_phone(browser: Any, service: Any) -> None:
    page = _tab(browser, service.url, PHONE)
    _sign_up(page, "pocket")
    tile = _run(page, "a bicycle by a canal")
    media = tile.locator("figure.output").first.get_attribute("data-media-id")
    page.mouse.move(0, 0)
    _fits(page, "the studio with a tile's tools")
    tile.locator("figure.output").first.get_by_role("button", name="×2", exact=True).click()
    expect(tile.locator(".confirm")).to_contain_text(re.compile(r"Zoom out ×2: \d+ points"))
    _fits(page, "the studio with a zoom-out price shown")

    page.goto(f"/media/{media}/inpaint")
    _paint(page)
    page.get_by_label("What the painted region should show").fill("a red door")
    page.get_by_role("button", name="Price it").click()
    expect(page.locator("#painter-run")).to_have_text(re.compile(r"^Run · \d+ points$"))
    _fits(page, "the painter")

    _save_style(page)
    _fits(page, "/styles")
    page.goto(f"/?tool=reference&image={media}")
    expect(page.locator("#in-style")).to_be_visible()
    _fits(page, "the studio on the reference tool")


def test_describe_an_image_and_pick_a_server_lora(browser: Any, service: Any,
                                                  shots: Path) -> None:
    page = _tab(browser, service.url, DESKTOP)
    _sign_up(page, "reader")
    made = _run(page, "a windmill in a tulip field").locator("figure.output").first
    media = made.get_attribute("data-media-id")

    # --- describe: from the tile, priced, 3-4 prompts each a tap from the prompt bar ----------
    made.get_by_role("link", name="Describe").click()
    expect(page.locator("#run-form")).to_have_attribute("data-category", "describe")
    expect(page.locator("input[name=image]")).to_have_value(media)
    expect(page.locator("#price")).to_have_attribute("data-state", "fits")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#tiles .tile")).to_have_count(2)
    described = page.locator("#tiles .tile").first
    expect(described).to_have_attribute("data-state", "succeeded", timeout=60_000)
    expect(described.locator(".tile-head")).to_contain_text("describe")
    prompts = described.locator(".described-prompt")
    expect(prompts.first).to_be_visible()
    assert 3 <= prompts.count() <= 4
    first = prompts.first.inner_text()
    page.mouse.move(0, 0)
    _fits(page, "the studio with a describe's prompts")
    described.screenshot(path=str(shots / "describe.png"))
    described.get_by_role("link", name="Use this prompt").first.click()
    expect(page.locator("#in-prompt")).to_have_value(first)

    # --- the server's LoRAs: listed in the studio, a pick puts its tag in the prompt -----------
    page.goto("/")
    page.locator("#server-loras summary").click()
    loras = page.locator("#server-loras .lora-list li")
    expect(loras).to_have_count(4)  # the preview engine's looks
    expect(page.locator("#server-loras")).to_contain_text("preview-ink")
    page.locator("#in-prompt").fill("a windmill at night")
    page.locator("#server-loras").get_by_role("button", name="preview-neon").click()
    expect(page.locator("#in-prompt")).to_have_value("a windmill at night <lora:preview-neon:0.8>")
    expect(page.locator("#price")).to_have_attribute("data-state", "fits")
    _fits(page, "the studio with the server's LoRAs")
    page.locator("#run-form").screenshot(path=str(shots / "loras.png"))
    tile = page.locator("#tiles .tile").count()
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#tiles .tile")).to_have_count(tile + 1)
    expect(page.locator("#tiles .tile").first).to_have_attribute(
        "data-state", "succeeded", timeout=60_000)

    phone = _tab(browser, service.url, PHONE)
    _sign_up(phone, "reader-phone")
    phone.locator("#server-loras summary").click()
    _fits(phone, "the studio with the server's LoRAs")
    phone.goto("/?tool=describe")
    expect(phone.locator("#run-form")).to_have_attribute("data-category", "describe")
    _fits(phone, "the studio on describe")
