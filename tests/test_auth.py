"""Who may do what: tokens, expiry and roles across the whole /api/v1 surface."""

import re

import pytest

from api.main import API_PREFIX
from data.enums import Role
from tests.conftest import PASSWORD, bearer
from tests.factories import API, location_body, patient_body


def api_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the OpenAPI document lists under /api/v1."""
    return sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(API_PREFIX)
        for method in operations
    )


def concrete(path: str) -> str:
    """The path with plausible values for its parameters (a date for ``{day}``, 1 for ids)."""
    return re.sub(r"\{(\w+)\}", lambda match: "2027-03-03" if match.group(1) == "day" else "1", path)


def test_sign_in_issues_a_working_bearer_token(client, staff):
    response = client.post(f"{API}/auth/token", data={"username": "T_Desk", "password": PASSWORD})
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 60 * 60
    me = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.json()["username"] == "t_desk" and me.json()["role"] == "front_desk"


def test_a_signed_in_desk_renews_its_token_while_it_works(client, app, staff):
    """The web app renews a token past half its life, so the desk is not sent to the sign-in page every hour (found
    by a probe); a token already expired, or of a deactivated account, renews nothing."""
    old = bearer(app, staff[Role.FRONT_DESK], minutes=10)
    renewed = client.post(f"{API}/auth/renew", headers=old)
    assert renewed.status_code == 200 and renewed.json()["expires_in"] == 60 * 60, renewed.text
    fresh = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert client.get(f"{API}/auth/me", headers=fresh).json()["username"] == "t_desk"
    expired = client.post(f"{API}/auth/renew", headers=bearer(app, staff[Role.FRONT_DESK], minutes=-1))
    assert expired.status_code == 401


@pytest.mark.parametrize("username, password", [("t_desk", "wrong password"), ("nobody", PASSWORD),
                                                ("t_desk\x00", PASSWORD)])
def test_wrong_credentials_are_401(client, staff, username, password):
    response = client.post(f"{API}/auth/token", data={"username": username, "password": password})
    assert response.status_code == 401
    assert response.json()["detail"] == "incorrect username or password"


def test_disabled_account_cannot_sign_in_or_use_its_token(client, session, staff, app):
    desk = staff[Role.FRONT_DESK]
    headers = bearer(app, desk)
    desk.is_active = False
    session.commit()
    assert client.post(f"{API}/auth/token", data={"username": "t_desk", "password": PASSWORD}).status_code == 401
    assert client.get(f"{API}/auth/me", headers=headers).status_code == 401


def test_every_api_endpoint_but_sign_in_needs_a_token(client, app):
    routes = api_routes(app)
    assert len(routes) >= 8 * 5, routes
    for method, path in routes:
        if path == f"{API}/auth/token" or path.startswith(f"{API}/public/"):
            continue
        response = client.request(method, concrete(path), json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("minutes, reason", [(-1, "expired"), (None, "not valid")])
def test_expired_or_forged_tokens_are_401(client, app, staff, minutes, reason):
    if minutes is None:
        headers = {"Authorization": "Bearer not.a.token"}
    else:
        headers = bearer(app, staff[Role.ADMIN], minutes=minutes)
    response = client.get(f"{API}/locations", headers=headers)
    assert response.status_code == 401 and reason in response.json()["detail"]


CATALOG = ["locations", "clinicians", "device-types", "devices", "rooms", "services", "plan-templates"]


@pytest.mark.parametrize("collection", CATALOG)
@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.CLINICIAN])
def test_catalog_is_readable_by_staff_but_written_only_by_admins(client, app, staff, collection, role):
    headers = bearer(app, staff[role])
    assert client.get(f"{API}/{collection}", headers=headers).status_code == 200
    for method, path in [("post", ""), ("patch", "/1"), ("delete", "/1")]:
        response = client.request(method, f"{API}/{collection}{path}", json={}, headers=headers)
        assert response.status_code == 403, (method, collection, response.text)
        assert "admin" in response.json()["detail"]


def test_front_desk_keeps_patients_but_clinicians_cannot_browse_them(client, as_desk, as_clinician):
    created = client.post(f"{API}/patients", json=patient_body(), headers=as_desk)
    assert created.status_code == 201
    assert client.get(f"{API}/patients", headers=as_clinician).status_code == 403
    assert client.get(f"{API}/patients/{created.json()['id']}", headers=as_clinician).status_code == 403


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.CLINICIAN])
def test_only_admins_manage_users(client, app, staff, role):
    headers = bearer(app, staff[role])
    assert client.get(f"{API}/users", headers=headers).status_code == 403
    body = {"username": "sneaky", "role": "admin", "password": "long enough pw"}
    assert client.post(f"{API}/users", json=body, headers=headers).status_code == 403


def test_admin_writes_the_catalog(client, as_admin):
    assert client.post(f"{API}/locations", json=location_body(), headers=as_admin).status_code == 201


def test_repeated_failed_sign_ins_are_refused_for_a_while(client, app, staff):
    def attempt(username: str, password: str):
        return client.post(f"{API}/auth/token", data={"username": username, "password": password})

    assert attempt("t_desk", PASSWORD).status_code == 200
    for _ in range(5):
        assert attempt("t_desk", "wrong password").status_code == 401
    refused = attempt("t_desk", PASSWORD)
    assert refused.status_code == 429 and "too many failed sign-ins for this account" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) > 0
    assert attempt("t_admin", PASSWORD).status_code == 200, "other accounts are not locked out"
    app.state.settings = app.state.settings.model_copy(update={"sign_in_failures_per_address": 7})
    for _ in range(2):
        attempt("nobody", "guess")
    assert attempt("t_admin", "wrong").status_code == 429, "one address guessing many accounts is slowed too"


def test_cross_origin_requests_are_not_allowed_by_default(client):
    preflight = client.options(f"{API}/auth/me", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers
    plain = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in plain.headers
