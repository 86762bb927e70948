"""The web app's pages as HTTP: served by the API process, with security headers, and a 404 page in words;
its browser packages served from the npm install, never from a CDN."""

import pytest

from api.web import PAGES


@pytest.mark.parametrize("path", ["/app/login", *(f"/app/{name}" for name in PAGES)])
def test_pages_are_served_with_security_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/static/js/main.js"' in response.text
    assert '<link rel="icon" href="/static/favicon.svg"' in response.text


def test_the_root_opens_the_schedule_and_unknown_pages_say_so(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/app/schedule"
    missing = client.get("/app/nothing-here")
    assert missing.status_code == 404 and "There is no such page" in missing.text


def test_the_scripts_stylesheet_and_icon_are_served(client):
    assert "export async function api(" in client.get("/static/js/core.js").text
    assert "@media print" in client.get("/static/app.css").text
    assert client.get("/static/favicon.svg").headers["content-type"].startswith("image/svg")


@pytest.mark.parametrize("name", ["event-calendar.js", "event-calendar.css", "swagger-ui.js", "redoc.js", "luxon.js",
                                  "axe.js"])
def test_browser_packages_come_from_the_npm_install(client, name):
    response = client.get(f"/vendor/{name}")
    assert response.status_code == 200 and len(response.content) > 1000
    assert response.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")


def test_only_named_package_files_are_served(client):
    assert client.get("/vendor/..%2Fpackage.json").status_code == 404
    assert client.get("/vendor/react.js").status_code == 404


def test_a_missing_npm_install_is_a_503_that_says_what_to_run(client, monkeypatch, tmp_path):
    monkeypatch.setenv("CLINIC_WEB_PACKAGES", str(tmp_path))
    response = client.get("/vendor/luxon.js")
    assert response.status_code == 503 and "npm ci" in response.json()["detail"]


def test_the_api_docs_load_their_scripts_from_this_server(client):
    """Defect 7: /docs and /redoc were blank without internet, their scripts came from a CDN."""
    for path, script in (("/docs", "/vendor/swagger-ui.js"), ("/redoc", "/vendor/redoc.js")):
        page = client.get(path).text
        assert script in page
        assert "cdn.jsdelivr.net" not in page and "fonts.googleapis.com" not in page
