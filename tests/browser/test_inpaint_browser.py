"""Vary region in a real browser: from a result's tile to the mask painter, a brush stroke on
the canvas, the price first, then the job — which repaints only the painted region."""

from __future__ import annotations

import re
from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None


def test_paint_a_mask_price_it_and_run_it(page: Any) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill("painter")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Studio")).to_be_visible()
    page.get_by_label("prompt").fill("a quiet harbour")
    expect(page.locator("#price")).to_have_attribute("data-state", "fits")
    page.get_by_role("button", name="Run", exact=True).click()
    tile = page.locator("#tiles .tile").first
    expect(tile).to_have_attribute("data-state", "succeeded", timeout=60_000)
    tile.get_by_role("link", name="Vary region").first.click()

    expect(page.get_by_role("heading", name="Vary region")).to_be_visible()
    expect(page.locator("#painter-undo")).to_be_disabled()
    page.get_by_role("button", name="Price it").click()
    expect(page.locator("#painter-status")).to_contain_text("Paint the region to change first")
    canvas = page.locator("#painter-canvas")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    expect(page.locator("#painter-undo")).to_be_enabled()
    page.get_by_label("What the painted region should show").fill("a red sailing boat")
    page.get_by_role("button", name="Price it").click()
    run = page.locator("#painter-run")
    expect(run).to_have_text(re.compile(r"^Run · \d+ points$"))
    expect(page).to_have_url(re.compile(r"/media/[0-9a-f]+/inpaint$"))  # nothing ran yet
    run.click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f]+$"))
    expect(page.locator("#job")).to_have_attribute("data-state", "succeeded", timeout=60_000)
    expect(page.locator("body")).to_contain_text("inpaint")
