"""Request bodies are capped (413, connection closed, the rest never read) and error answers stay small."""

import json

import pytest
from fastapi.testclient import TestClient

from api.deps import get_session
from api.main import create_app
from data.config import Settings
from tests.factories import API
from tests.servers import raw_exchange, served_clinic

CAP = Settings().max_body_bytes


@pytest.mark.parametrize("path, headers", [
    (f"{API}/public/requests", {"Content-Type": "application/json"}),
    (f"{API}/patients", {"Content-Type": "application/json"}),
    (f"{API}/auth/token", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("/fhir/Appointment", {"Content-Type": "application/fhir+json"}),
])
def test_a_body_over_the_cap_is_413_saying_so(client, as_admin, path, headers):
    response = client.post(path, content=b" " * (CAP + 1), headers=as_admin | headers)
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    said = response.json()
    text = said["detail"] if "detail" in said else said["issue"][0]["diagnostics"]
    assert f"larger than the {CAP} bytes" in text


def test_the_cap_is_a_setting(engine, session):
    app = create_app(Settings(database_url=str(engine.url), secret_key="x" * 40, background_jobs=False,
                              max_body_bytes=2048), engine)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as client:
        body = {"given_name": "x" * 1000}
        assert client.post(f"{API}/public/requests", json=body).status_code == 422
        assert client.post(f"{API}/public/requests", json=body | {"reason": "y" * 2000}).status_code == 413


def test_a_422_for_a_large_body_stays_small(client, as_admin):
    """Nearly a megabyte in: no input echoed per missing field, and only the first errors listed."""
    huge_name = {"given_name": "x" * (CAP - 1000)}
    answer = client.post(f"{API}/public/requests", json=huge_name)
    assert answer.status_code == 422
    assert len(answer.content) < 4000 and "xxxx" not in answer.text
    many_wrongs = {"name": "x", "time_zone": "UTC", "opening_hours": [{"weekday": 9}] * 20000}
    answer = client.post(f"{API}/locations", json=many_wrongs, headers=as_admin)
    assert answer.status_code == 422
    assert len(answer.content) < 8000
    assert answer.json()["detail"][-1]["type"] == "too_many_errors"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with served_clinic(tmp_path_factory.mktemp("body_limit")) as (server, _):
        yield server


def test_a_served_upload_declared_too_large_is_refused_before_a_byte_of_it_is_sent(served):
    """Only the headers go out; the answer comes and the connection closes, so the 50 MiB are never read."""
    status, headers, content = raw_exchange(served, b"POST /api/v1/public/requests HTTP/1.1\r\nHost: clinic\r\n"
                                                    b"Content-Type: application/json\r\n"
                                                    b"Content-Length: %d\r\n\r\n" % (50 * 1024 * 1024))
    assert status == 413 and headers["connection"] == "close"
    assert f"larger than the {CAP} bytes" in json.loads(content)["detail"]


def test_a_served_chunked_upload_is_refused_once_past_the_cap_without_waiting_for_its_end(served):
    """Chunks just past the cap and no final chunk: the server answers and closes instead of reading on."""
    chunk = b"x" * 4096
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(CAP // len(chunk) + 1))
    status, headers, content = raw_exchange(served, b"POST /api/v1/public/requests HTTP/1.1\r\nHost: clinic\r\n"
                                                    b"Content-Type: application/json\r\n"
                                                    b"Transfer-Encoding: chunked\r\n\r\n", chunks)
    assert status == 413 and headers["connection"] == "close"
    assert f"larger than the {CAP} bytes" in json.loads(content)["detail"]
    status, _, _ = raw_exchange(served, b"GET /health HTTP/1.1\r\nHost: clinic\r\nConnection: close\r\n\r\n")
    assert status == 200
