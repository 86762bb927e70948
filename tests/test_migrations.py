"""Migrations build exactly the schema the models describe, and the app guards against a stale one."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from api.main import create_app
from data.config import Settings
from data.db import make_engine
from data.migrate import SchemaBehindError, alembic_config, current_revision, head_revision, ours, upgrade

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def empty_engine(empty_database_url):
    engine = make_engine(empty_database_url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_migrations_on_an_empty_database_match_the_models(empty_engine):
    assert current_revision(empty_engine) is None
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": ours})
        assert compare_metadata(context, SQLModel.metadata) == []


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_migrations_go_down_and_up_again(empty_engine):
    upgrade(empty_engine)
    command.downgrade(alembic_config(empty_engine), "base")
    assert current_revision(empty_engine) is None
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_app_refuses_to_start_on_a_database_that_is_behind(empty_engine):
    app = create_app(Settings(database_url=str(empty_engine.url)), empty_engine)
    with pytest.raises(SchemaBehindError, match="run `clinic db upgrade`"):
        with TestClient(app):
            pass


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_ready_reports_a_schema_that_fell_behind(empty_engine):
    upgrade(empty_engine)
    with TestClient(create_app(Settings(database_url=str(empty_engine.url)), empty_engine)) as client:
        assert client.get("/ready").json() == {"status": "ready"}
        command.downgrade(alembic_config(empty_engine), "base")
        response = client.get("/ready")
        assert response.status_code == 503
        assert "clinic db upgrade" in response.json()["reason"]
        assert client.get("/health").status_code == 200


def test_ready_reports_an_unreachable_database(tmp_path):
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/nowhere?connect_timeout=1")
    app = create_app(Settings(database_url=str(engine.url)), engine)
    client = TestClient(app)  # not entered: startup would refuse, the probe must still answer
    response = client.get("/ready")
    assert response.status_code == 503 and "unreachable" in response.json()["reason"]
