"""Describe and the server's LoRAs in a real browser: "Describe" on a result opens the studio
on the describe tool with that image chosen; its run's tile shows the prompts, and "Use this
prompt" takes one into the prompt bar — through the studio's link from the describe tool
(which has no prompt), in place once the prompt bar is there; a server LoRA picked from the
studio's list adds its <lora:Name:0.8> tag to the prompt, still priced."""

from __future__ import annotations

from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None


def _wait_tile(page: Any, before: int) -> Any:
    expect(page.locator("#tiles .tile")).to_have_count(before + 1)
    tile = page.locator("#tiles .tile").first
    expect(tile).to_have_attribute("data-state", "succeeded", timeout=60_000)
    return tile


def test_describe_then_use_a_prompt_and_pick_a_lora(page: Any) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill("dex")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Studio")).to_be_visible()

    page.get_by_label("prompt").fill("a lighthouse on a cliff")
    expect(page.locator("#price")).to_have_attribute("data-state", "fits")
    page.get_by_role("button", name="Run", exact=True).click()
    first = _wait_tile(page, 0)
    first.get_by_role("link", name="Describe").first.click()
    expect(page.locator("#run-form")).to_have_attribute("data-tool", "describe")
    expect(page.locator("img.input-thumb")).to_be_visible()
    expect(page.locator("#price")).to_have_attribute("data-state", "fits")
    page.get_by_role("button", name="Run", exact=True).click()
    described = _wait_tile(page, 1)
    prompts = described.locator(".described-prompt")
    expect(prompts).to_have_count(4)
    chosen = prompts.nth(1).inner_text()

    described.get_by_role("link", name="Use this prompt").nth(1).click()  # to the make tool
    expect(page.locator("#run-form")).not_to_have_attribute("data-tool", "describe")
    expect(page.get_by_label("prompt")).to_have_value(chosen)

    page.get_by_label("prompt").fill("a quiet harbour")
    page.locator("#server-loras summary").click()
    page.locator("button.lora-pick", has_text="preview-ink").click()
    expect(page.get_by_label("prompt")).to_have_value("a quiet harbour <lora:preview-ink:0.8>")
    expect(page.locator("#price")).to_have_attribute("data-state", "fits")

    url = page.url
    page.locator(".tile .use-prompt").first.click()  # the prompt bar is here: in place
    expect(page.get_by_label("prompt")).to_have_value(
        page.locator(".tile .described-prompt").first.inner_text())
    assert page.url == url
