"""The served log holds no patient data and no link secrets; in JSON, one object a line, each request's with its id."""

import json

import httpx
from sqlmodel import Session

from api.access_log import scrub
from data.accounts import upsert_user
from data.enums import Role
from tests.clinic_world import build_world
from tests.servers import served_clinic


def test_paths_lose_their_query_and_secrets():
    assert scrub("/api/v1/patients?name=Ann+World") == "/api/v1/patients"
    assert scrub("/calendar/GYJKix9ZeCPGJR0IbL3oBYxWDgQgosBmNNah9gVy1YY.ics") == "/calendar/….ics"
    assert scrub("/api/v1/public/requests/abcdefghijklmnopqrstuvwx") == "/api/v1/public/requests/…"
    assert scrub("/api/v1/appointments/12/cancel") == "/api/v1/appointments/12/cancel"


def test_the_served_json_log_shows_requests_by_id_but_no_patient_data_or_secrets(tmp_path):
    def fill(session: Session):
        world = build_world(session)
        upsert_user(session=session, username="desk", password="log test password", role=Role.FRONT_DESK)
        return world

    with served_clinic(tmp_path, fill, CLINIC_LOG_FORMAT="json") as (server, world), \
            httpx.Client(base_url=server.base_url) as client:
        token = client.post("/api/v1/auth/token", data={"username": "desk", "password": "log test password"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        found = client.get("/api/v1/patients", params={"name": "Ann World"},
                           headers={**headers, "X-Request-ID": "proxy-1f2e"})
        assert found.status_code == 200 and found.headers["X-Request-ID"] == "proxy-1f2e"
        feed = client.post(f"/api/v1/clinicians/{world.dana.id}/calendar-feed", headers=headers).json()["url"]
        assert client.get(feed).status_code == 200
        birth = client.get(f"/api/v1/patients/{world.patients[0].id}", headers=headers).json()["birth_date"]
    log = server.output()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    (search,) = [line for line in lines if "GET /api/v1/patients HTTP" in line["message"]]
    assert search["request_id"] == "proxy-1f2e" and search["logger"] == "uvicorn.access"
    (calendar,) = [line for line in lines if "GET /calendar/….ics" in line["message"]]
    assert len(calendar["request_id"]) == 32, "a request without an id gets one"
    assert {line["logger"] for line in lines} >= {"uvicorn.error", "uvicorn.access"}
    secret = feed.rsplit("/", 1)[1].removesuffix(".ics")
    leaked = [text for text in ("Ann", secret, birth) if text in log]
    assert leaked == []
