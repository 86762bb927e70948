"""End to end, the way the quick start runs it: the real `clinic serve --demo` in its own process.

The server is a subprocess on a free port, polled until it answers, always
terminated afterwards. Nothing asserts on timing; the start-up wait is only a
bound so a broken start fails with the server's output instead of hanging.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from data.db import make_engine
from data.migrate import current_revision, head_revision

PASSWORD = "quickstart-demo-password"
START_TIMEOUT_SECONDS = 30


def clinic_script() -> str:
    """The `clinic` entry point installed next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "clinic"
    if beside.exists():
        return str(beside)
    found = shutil.which("clinic")
    if found is None:
        pytest.fail("the `clinic` script is not installed; pip install -e . first")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen, log: Path, base_url: str):
        self.process, self.log, self.base_url = process, log, base_url

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"`clinic serve` exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"`clinic serve` did not answer /health within {START_TIMEOUT_SECONDS} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_server(tmp_path) -> Iterator[Callable[..., Server]]:
    """Start `clinic serve <args>` in tmp_path with a clean environment plus ``env``."""
    servers: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        environment = {
            name: value for name, value in os.environ.items()
            if not name.startswith("CLINIC_") and name != "DATABASE_URL"
        }
        environment.update({"CLINIC_DEMO_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1", **(env or {})})
        port = free_port()
        log = tmp_path / f"server-{len(servers)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [clinic_script(), "serve", "--port", str(port), *args],
                cwd=tmp_path, env=environment, stdout=sink, stderr=subprocess.STDOUT,
            )
        server = Server(process, log, f"http://127.0.0.1:{port}")
        servers.append(server)
        server.wait_until_up()
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
