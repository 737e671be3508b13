"""In a real browser, under the Content-Security-Policy the service sends: the pages run their
scripts and the browser reports no violation (an inline script, style or handler would be
blocked silently), and picking a tool still switches the studio's form."""

from __future__ import annotations

from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None

WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def test_pages_run_under_the_policy_without_violations(page: Any) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(WATCH_VIOLATIONS)
    seen: list[str] = []

    def visit(path: str) -> None:
        page.goto(path)
        seen.extend(page.evaluate("window.__violations"))

    visit("/signup")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    seen.extend(page.evaluate("window.__violations"))
    page.get_by_label("prompt").fill("a lighthouse")
    expect(page.locator("#price")).to_have_attribute("data-state", "fits")  # fetch allowed
    page.locator("#tool-select").select_option("img2img")  # submits itself (common.js)
    expect(page.locator("#run-form")).to_have_attribute("data-tool", "img2img")
    seen.extend(page.evaluate("window.__violations"))
    for path in ["/gallery", "/datasets", "/collections", "/account", "/status"]:
        visit(path)
    assert seen == []
    assert not [text for text in console if "Content Security Policy" in text], console
