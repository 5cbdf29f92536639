"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by
Playwright without downloading a browser): sign in with an API key, see a
running sandbox appear live, open its ledger, and save a screenshot as a test
artefact (SOCKT_ARTEFACTS, default /tmp)."""

import os

import httpx
from playwright.sync_api import expect, sync_playwright

URL = os.environ["SOCKT_API_URL"].rstrip("/")
KEY = os.environ["SOCKT_API_KEY"]
ARTEFACTS = os.environ.get("SOCKT_ARTEFACTS", "/tmp")
CHROMIUM = os.environ.get("SOCKT_CHROMIUM", "/usr/bin/chromium")


def test_sign_in_watch_a_sandbox_appear_and_open_its_ledger():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{URL}/dashboard")
        page.fill("#key", KEY)
        page.click("#go")
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator("#live")).to_have_text("● live", timeout=10_000)

        headers = {"Authorization": f"Bearer {KEY}"}
        created = httpx.post(f"{URL}/v1/sandboxes", headers=headers, json={"tier": "nano", "initial_credits_cents": 5, "label": "browser-demo"}).json()
        sandbox_id = created["sandbox_id"]
        try:
            row = page.locator("tr.sandbox", has_text="browser-demo")
            expect(row).to_be_visible(timeout=10_000)
            expect(row).to_contain_text("running", timeout=15_000)
            row.click()
            expect(page.locator("#ledger tbody tr").first).to_contain_text("deposit", timeout=10_000)
            expect(page.locator("#events")).to_contain_text("SandboxStarted")
            expect(page.locator("#detail svg, #detail .empty").first).to_be_visible()
            page.screenshot(path=os.path.join(ARTEFACTS, "sockt-dashboard.png"), full_page=True)
        finally:
            httpx.request("DELETE", f"{URL}/v1/sandboxes/{sandbox_id}", headers=headers)
        assert errors == [], errors
        browser.close()
