"""End to end, the way the quick start runs it: the real `clinic serve --demo` in its own process."""

from collections.abc import Callable, Iterator

import httpx
import pytest

from data.db import make_engine
from data.migrate import current_revision, head_revision
from tests.servers import Server, clean_environment, clinic_script, free_port, launch

PASSWORD = "quickstart-demo-password"


@pytest.fixture
def start_server(tmp_path) -> Iterator[Callable[..., Server]]:
    """Start `clinic serve <args>` in tmp_path with a clean environment plus ``env``."""
    servers: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        port = free_port()
        server = launch(
            [clinic_script(), "serve", "--port", str(port), *args],
            port=port, cwd=tmp_path, env=clean_environment(CLINIC_DEMO_PASSWORD=PASSWORD, **(env or {})),
            log=tmp_path / f"server-{len(servers)}.log",
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def check_demo_service(server: Server) -> None:
    """What a new user does first: probes, sign in, list clinicians, read the docs."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready"}

        wrong = client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD + "x"})
        assert wrong.status_code == 401, wrong.text
        signed_in = client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["access_token"]

        clinicians = client.get("/api/v1/clinicians", headers={"Authorization": f"Bearer {token}"})
        assert clinicians.status_code == 200, clinicians.text
        assert clinicians.json()["total"] >= 8
        assert len(clinicians.json()["items"]) >= 8

        anonymous = client.get("/api/v1/clinicians")
        assert anonymous.status_code == 401, anonymous.text

        docs = client.get("/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()


def test_quickstart_on_embedded_sqlite(start_server, tmp_path):
    """`clinic serve --demo` with no configuration: SQLite file in the working directory, demo ready."""
    server = start_server("--demo")
    check_demo_service(server)
    assert (tmp_path / "clinic.db").is_file()
    assert "demo clinic loaded" in server.output()
    assert PASSWORD not in server.output(), "a chosen demo password must not be echoed"


@pytest.mark.postgres
def test_quickstart_on_postgres(start_server, tmp_path, postgres_databases):
    """The same against a fresh PostgreSQL database with --migrate; nothing lands in a SQLite file."""
    url = postgres_databases()
    server = start_server("--demo", "--migrate", env={"DATABASE_URL": url})
    check_demo_service(server)
    assert not (tmp_path / "clinic.db").exists()
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
