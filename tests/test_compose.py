"""docker-compose.yml cannot run here (no Docker engine), so its app configuration runs without Docker.

The app service's command and environment are taken from the file as they are;
only what Docker itself provides is swapped: the ``db`` host becomes the local
PostgreSQL with a fresh database, the published port a free one, and a
``${NAME:-default}`` takes its default, as compose does with NAME unset.
"""

import re
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.servers import clean_environment, free_port, launch

ROOT = Path(__file__).resolve().parents[1]


DEFAULTED = re.compile(r"^\$\{(\w+):-(.*)\}$")  # ${NAME:-default}: compose uses the default when NAME is unset


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_app_waits_for_a_healthy_postgres_15_or_newer(compose):
    db, app = compose["services"]["db"], compose["services"]["app"]
    assert int(db["image"].split(":")[1].split(".")[0]) >= 15
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    url = make_url(app["environment"]["DATABASE_URL"])
    assert url.drivername == "postgresql+psycopg" and url.host == "db"
    assert (url.username, url.password, url.database) == (
        db["environment"]["POSTGRES_USER"], db["environment"]["POSTGRES_PASSWORD"], db["environment"]["POSTGRES_DB"])
    assert "/ready" in " ".join(app["healthcheck"]["test"])


def test_app_command_matches_the_image_default(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    command = compose["services"]["app"]["command"]
    assert f'CMD {str(command).replace(chr(39), chr(34))}' in dockerfile


@pytest.mark.postgres
def test_app_configuration_migrates_and_serves_on_postgres(compose, postgres_databases, tmp_path):
    app = compose["services"]["app"]
    local = make_url(postgres_databases())
    environment = {name: DEFAULTED.sub(r"\2", value) for name, value in app["environment"].items()}
    environment["DATABASE_URL"] = local.render_as_string(hide_password=False)
    environment["CLINIC_SECRET_KEY"] = "compose-test-secret-key-0123456789abcdef"
    container_port = app["ports"][0].split(":")[1]
    port = free_port()
    shell, flag, script = app["command"]
    script = script.replace(f"--port {container_port}", f"--port {port}").replace("0.0.0.0", "127.0.0.1")
    server = launch([shell, flag, script], port=port, cwd=tmp_path, env=clean_environment(**environment),
                    log=tmp_path / "compose-app.log")
    try:
        ready = httpx.get(f"{server.base_url}/ready", timeout=10)
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}, ready.text
        assert "database schema at" in server.output()
    finally:
        server.stop()


def test_worker_runs_the_periodic_jobs_against_the_same_database(compose):
    app, worker = compose["services"]["app"], compose["services"]["worker"]
    assert worker["command"] == ["clinic", "worker"]
    assert worker["environment"]["DATABASE_URL"] == app["environment"]["DATABASE_URL"]
    assert worker["depends_on"]["app"]["condition"] == "service_healthy", "the app migrates first"
