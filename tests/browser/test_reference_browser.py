"""Use as reference in a real browser: from a result tile the studio opens on the reference
tool with that image chosen (its thumbnail shown, the price live), the run's tile appears in
place, and "Use as reference" on that new tile fills the open reference form without leaving
the page."""

from __future__ import annotations

import re
from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None


def _run(page: Any, prompt: str) -> Any:
    page.get_by_label("prompt").fill(prompt)
    expect(page.locator("#price")).to_have_attribute("data-state", "fits")
    before = page.locator("#tiles .tile").count()
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#tiles .tile")).to_have_count(before + 1)
    tile = page.locator("#tiles .tile").first
    expect(tile).to_have_attribute("data-state", "succeeded", timeout=60_000)
    return tile


def test_use_as_reference_opens_then_fills_the_reference_form(page: Any) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill("ruth")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Studio")).to_be_visible()

    first = _run(page, "a lighthouse on a cliff")
    first.get_by_role("link", name="Use as reference").first.click()
    form = page.locator("#run-form")
    expect(form).to_have_attribute("data-tool", "reference")
    expect(page.locator("#tool-select")).to_have_value("reference")
    expect(page.locator("img.input-thumb")).to_be_visible()
    media = first.locator("a.use-as-reference").first.get_attribute("data-media-id")
    expect(page.locator("input[name=image]")).to_have_value(media)

    second = _run(page, "a castle at dusk")
    expect(second.locator(".tile-head")).to_contain_text("reference")
    newer = second.locator("a.use-as-reference").first.get_attribute("data-media-id")
    url = page.url
    second.get_by_role("link", name="Use as reference").first.click()
    expect(page.locator("input[name=image]")).to_have_value(newer)  # in place
    assert page.url == url and re.search(r"tool=reference", url)
    expect(page.locator("[data-upload-state=image]")).to_have_text("an image from your work")
