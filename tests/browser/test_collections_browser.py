"""Collections in a real browser: make an image and add it to a new collection, share a link
and open it signed out, cook a supply of 3 to the end with live progress, keep the pieces and
download the NFT export."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None

COLLECTION_URL = re.compile(r"/collections/[0-9a-f]+(\?.*)?$")


def test_collect_share_cook_keep_and_export(page: Any, browser: Any, service: Any,
                                            tmp_path: Path) -> None:
    # --- sign up and make an image ------------------------------------------------------
    page.goto("/signup")
    page.get_by_label("Username").fill("collector")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_label("prompt").fill("a red fox in the snow")
    page.get_by_role("button", name="Run", exact=True).click()
    tile = page.locator("#tiles .tile").first  # the studio's feed, in place
    expect(tile).to_have_attribute("data-state", "succeeded", timeout=60_000)

    # --- add it to a new collection (from its tile) ----------------------------------------
    tile.locator("figure.output a.add-to-collection").first.click()
    page.locator("#new-name").fill("Snow foxes")
    page.get_by_role("button", name="Add").click()
    expect(page).to_have_url(COLLECTION_URL)
    expect(page.locator("#added")).to_be_visible()
    expect(page.locator("figure.item")).to_have_count(1)
    expect(page.locator("figure.item img")).to_have_js_property("complete", True)
    assert page.locator("figure.item img").evaluate("img => img.naturalWidth") > 0
    collection_url = page.url.split("?")[0]

    # --- a share link, opened signed out ----------------------------------------------------
    page.locator("#new-link select[name=expires]").select_option("24h")
    page.get_by_role("button", name="Create a link").click()
    link = page.locator("#link-list a.share-link").first
    expect(page.locator("#link-list tr.link-row").first).to_have_attribute("data-status",
                                                                           "active")
    href = link.get_attribute("href")
    stranger = browser.new_context(base_url=service.url)
    try:
        public = stranger.new_page()
        public.goto(href)
        expect(public.locator("#shared-name")).to_have_text("Snow foxes")
        expect(public.locator("figure.shared-item")).to_have_count(1)
        assert public.locator("figure.shared-item img").evaluate(
            "img => img.complete && img.naturalWidth") > 0
        expect(public.get_by_role("button", name="Sign out")).to_have_count(0)
    finally:
        stranger.close()

    # --- cook 3 pieces --------------------------------------------------------------------
    page.goto(collection_url)
    page.locator("#cook-link").click()
    page.get_by_label("Master prompt").fill("a [animal] in the [place]")
    page.get_by_label("Trait types").fill("animal: fox = red fox * 3, owl\nplace: snow, forest")
    page.get_by_label("Supply").fill("3")
    page.get_by_role("button", name="Save and preview").click()
    expect(page.locator("#cook-preview li")).to_have_count(3)
    expect(page.locator("#cook-quote")).to_contain_text("for 3 pieces")
    page.get_by_role("button", name="Start cooking").click()
    expect(page.locator("#cook-progress")).to_have_text(re.compile(r"^[0-3]/3$"))
    expect(page.locator("#cook-state")).to_have_text("finished", timeout=60_000)
    expect(page.locator("#cook-progress")).to_have_text("3/3")
    expect(page.locator("figure.piece")).to_have_count(3)

    # --- keep every piece -------------------------------------------------------------------
    for kept in range(1, 4):
        page.locator("button.keep").first.click()
        expect(page.locator('figure.piece[data-review="kept"]')).to_have_count(kept)
    expect(page.locator("button.keep")).to_have_count(0)
    expect(page.locator("#cook-kept")).to_have_text("3")

    # --- the collection now has 4 images; download the export ---------------------------
    page.goto(collection_url)
    expect(page.locator("figure.item")).to_have_count(4)
    with page.expect_download() as started:
        page.locator("#export-nft").click()
    path = tmp_path / "export.zip"
    started.value.save_as(path)
    archive = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    names = set(archive.namelist())
    assert {f"images/{n}.png" for n in range(1, 5)} <= names
    assert "collection.json" in names
    meta = json.loads(archive.read("metadata/2.json"))
    assert meta["name"] == "Snow foxes #1"
    assert {a["trait_type"] for a in meta["attributes"]} == {"animal", "place"}
    assert json.loads(archive.read("collection.json"))["supply"] == 4
