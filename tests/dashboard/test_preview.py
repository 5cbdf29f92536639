"""A preview link in a real headless Chromium: the owner issues a preview
token, a browser without any Sockt credential opens the link, the page of
Sockt's trades the token (from the URL fragment) for an HttpOnly cookie of
the proxy origin, and the sandbox's app is shown — on an origin of its own,
never the API's or the dashboard's. Revoking the token closes it."""

import os
import time

import httpx
from playwright.sync_api import sync_playwright

URL = os.environ["SOCKT_API_URL"].rstrip("/")
KEY = os.environ["SOCKT_API_KEY"]
CHROMIUM = os.environ.get("SOCKT_CHROMIUM", "/usr/bin/chromium")
HEADERS = {"Authorization": f"Bearer {KEY}"}


def test_a_preview_link_opens_the_app_on_its_own_origin_until_revoked():
    created = httpx.post(f"{URL}/v1/sandboxes", headers=HEADERS, json={"tier": "nano", "initial_credits_cents": 5}).json()
    sandbox_id = created["sandbox_id"]
    try:
        for _ in range(150):
            if httpx.get(f"{URL}/v1/sandboxes/{sandbox_id}", headers=HEADERS).json()["status"] == "running":
                break
            time.sleep(0.2)
        httpx.post(f"{URL}/v1/sandboxes/{sandbox_id}/files/write", headers=HEADERS,
                   json={"path": "site/index.html", "content": "<h1 id=hello>hello from the sandbox</h1>", "create_dirs": True}).raise_for_status()
        httpx.post(f"{URL}/v1/sandboxes/{sandbox_id}/exec", headers=HEADERS,
                   json={"command": "cd site && nohup python3 -m http.server 8000 >/dev/null 2>&1 &"}).raise_for_status()
        preview = httpx.post(f"{URL}/v1/sandboxes/{sandbox_id}/preview", headers=HEADERS).json()
        link = preview["url_template"].replace("{port}", "8000")
        assert "#spv_" in link and "?" not in link, link

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            )
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            for _ in range(50):
                page.goto(link)
                try:
                    page.wait_for_selector("#hello", timeout=3_000)
                    break
                except Exception:
                    time.sleep(0.2)
            assert page.inner_text("#hello") == "hello from the sandbox"
            origin = page.evaluate("location.origin")
            assert origin.startswith(f"http://{sandbox_id}-8000.localhost"), origin
            assert origin != URL
            assert "sockt_preview" not in page.evaluate("document.cookie"), "the cookie is HttpOnly"
            assert preview["preview_token"] not in page.url, "the token left the address bar"

            httpx.delete(f"{URL}/v1/sandboxes/{sandbox_id}/preview", headers=HEADERS).raise_for_status()
            response = page.goto(f"{origin}/")
            assert response.status == 404, response.status
            assert errors == [], errors
            browser.close()
    finally:
        httpx.request("DELETE", f"{URL}/v1/sandboxes/{sandbox_id}", headers=HEADERS)
