"""The web app's pages as HTTP: served by the API process, with security headers, and a 404 page in words."""

import pytest


@pytest.mark.parametrize("path", ["/app/login", "/app/desk", "/app/board", "/app/roster", "/app/runs"])
def test_pages_are_served_with_security_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
    assert '<script src="/static/app.js"' in response.text


def test_the_root_opens_the_front_desk_and_unknown_pages_say_so(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/app/desk"
    missing = client.get("/app/nothing-here")
    assert missing.status_code == 404 and "There is no such page" in missing.text


def test_the_script_and_stylesheet_are_served(client):
    assert "async function api(" in client.get("/static/app.js").text
    assert "@media print" in client.get("/static/app.css").text
