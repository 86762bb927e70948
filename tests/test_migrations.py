"""Migrations build exactly the schema the models describe, and the app guards against a stale one."""

from datetime import date, time

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel

from api.main import create_app
from data.config import Settings
from data.db import make_engine
from data.migrate import SchemaBehindError, alembic_config, current_revision, head_revision, ours, upgrade
from data.tables import TreatmentPlan, WaitlistRequest
from tests.clinic_world import NOW, build_world

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


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_tables_rebuilt_by_migrations_never_hand_out_a_deleted_id_again(empty_engine):
    """On SQLite a migration that alters a table rebuilds it; the rebuilt table must go on counting from where the
    old one had got, past records deleted before, and not from the highest id still there."""
    config = alembic_config(empty_engine)
    command.upgrade(config, "f3a7c9e1b5d2")  # before the two migrations that rebuild these tables
    with Session(empty_engine, expire_on_commit=False) as session:
        world = build_world(session)
        rows = {table: [make(world, n) for n in range(2)] for table, make in REBUILT.items()}
        session.add_all([row for made in rows.values() for row in made])
        session.commit()
        for made in rows.values():
            session.delete(made[1])  # the highest id
        session.commit()
    command.upgrade(config, "head")
    with Session(empty_engine) as session:
        for table, make in REBUILT.items():
            again = make(world, 2)
            session.add(again)
            session.flush()
            assert again.id > rows[table][1].id, f"{table} handed out id {again.id} again"


REBUILT = {
    "waitlist_request": lambda world, n: WaitlistRequest(
        patient_id=world.patients[n].id, service_id=world.msus.id, earliest_day=date(2027, 3, 1),
        latest_day=date(2027, 3, 5), earliest_time=time(8), latest_time=time(18), created_at=NOW),
    "treatment_plan": lambda world, n: TreatmentPlan(
        patient_id=world.patients[n].id, location_id=world.midtown.id, earliest_start=date(2027, 3, 1),
        latest_end=date(2027, 3, 5), created_at=NOW, updated_at=NOW),
}
