"""In a real browser: an image input uploaded from the studio, the account page (API key shown
once, refill countdown), sign out and sign in again."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PIL import Image

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None


def test_image_inputs_account_keys_and_signing_in_again(page: Any, tmp_path: Path) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()

    # --- a tool with an image input: the file is uploaded when chosen, then priced ---------
    page.locator("#tool-select").select_option("img2img")
    expect(page.locator("#run-form")).to_have_attribute("data-tool", "img2img")
    picture = tmp_path / "start.png"
    Image.new("RGB", (320, 256), (30, 90, 200)).save(picture)
    page.locator("input[data-upload-for=image]").set_input_files(str(picture))
    expect(page.locator('[data-upload-state="image"]')).to_have_text("320×256 ready")
    page.get_by_label("prompt").fill("a blue lake")
    expect(page.locator("#price")).to_have_attribute("data-state", "fits")
    page.get_by_role("button", name="Run", exact=True).click()
    tile = page.locator("#tiles .tile").first
    expect(tile).to_have_attribute("data-state", "succeeded", timeout=60_000)
    expect(tile.locator("figure.output figcaption").first).to_contain_text("320×256")

    # --- a bad value is explained before running ----------------------------------------
    page.goto("/")
    page.get_by_label("prompt").fill("a fox")
    page.locator("details summary", has_text="More options").click()
    page.locator("#in-steps").fill("100")  # the tool allows 150, the free tier 48
    expect(page.locator("#quote-error")).to_contain_text(
        "steps must be between 1 and 48 on the free tier")

    # --- account: the refill countdown ticks; a new key is shown once ---------------------
    page.get_by_role("link", name="Account").click()
    refill = page.locator("#refill")
    first = refill.inner_text()
    expect(refill).not_to_have_text(first)
    page.get_by_label("New key name").fill("my script")
    page.get_by_role("button", name="Create a key").click()
    secret = page.locator("#new-key-secret").inner_text()
    assert re.fullmatch(r"st_[0-9a-f]{8}_\S+", secret)
    page.get_by_role("link", name="Account").click()
    expect(page.locator("#key-list")).to_contain_text("my script")
    expect(page.locator("body")).not_to_contain_text(secret)

    # --- sign out, then sign in again and land where we asked to go ----------------------
    page.get_by_role("button", name="Sign out").click()
    page.goto("/gallery")
    expect(page).to_have_url(re.compile(r"/signin\?next=/gallery$"))
    page.get_by_label("Username or email").fill("bob")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/gallery$"))
    expect(page.locator("#gallery figure.output")).to_have_count(1)
