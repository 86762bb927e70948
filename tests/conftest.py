"""Fixtures: every API test runs against SQLite and against real PostgreSQL.

PostgreSQL databases are created fresh for the run on the server named by
``CLINIC_TEST_POSTGRES`` (default: the local server) and dropped afterwards.
Without a reachable server the PostgreSQL half is skipped, unless
``CLINIC_REQUIRE_POSTGRES=1`` (as in CI), where that is an error.

Each test runs inside a transaction that is rolled back, so tests neither see
nor disturb each other's rows.
"""

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session

from api.deps import get_session
from api.main import create_app
from api.security import issue_token
from data.accounts import hash_password
from data.config import Settings
from data.db import make_engine
from data.enums import Role
from data.migrate import upgrade
from data.tables import Clinician, Location, User

POSTGRES_SERVER = os.environ.get("CLINIC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("CLINIC_REQUIRE_POSTGRES") == "1"
PASSWORD = "correct horse battery"


def _admin_connection() -> psycopg.Connection:
    url = make_url(POSTGRES_SERVER)
    return psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        dbname=url.database or "postgres", autocommit=True, connect_timeout=5,
    )


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Callable[..., str]]:
    """A maker of fresh PostgreSQL databases, empty or (``migrated=True``) at the head revision; all are dropped at
    the end of the run.

    A migrated one is a copy of one database this process migrated (``CREATE DATABASE ... TEMPLATE``): 0.2 s here
    against 0.5-1.5 s to migrate each anew, for 100-150 such databases a worker (2026-12-01)."""
    try:
        admin = _admin_connection()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_SERVER}: {exc}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    created: list[str] = []
    template: list[str] = []

    def url_of(name: str) -> str:
        return make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)

    def make(*, migrated: bool = False) -> str:
        if migrated and not template:
            template.append(make_url(make()).database)
            _migrate(url_of(template[0]))
        name = f"clinic_test_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template[0]}"' if migrated else f'CREATE DATABASE "{name}"')
        created.append(name)
        return url_of(name)

    yield make
    admin.close()
    _drop_later(created)


DROP_THEM = """
import json, sys
import psycopg
with psycopg.connect(**json.loads(sys.argv[1]), autocommit=True) as admin:
    for name in sys.argv[2:]:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
"""


def _drop_later(names: list[str]) -> None:
    """Drop the run's databases from a process of its own, so the run does not wait for them: each DROP DATABASE
    checkpoints (0.17 s here), and a worker's last test carried its 100-150 drops, 18-26 s of the CI run's tail
    (2026-12-01). The process (psycopg alone, no app import) outlives the run if need be; a drop it misses leaves
    only a stray test database."""
    if not names:
        return
    url = make_url(POSTGRES_SERVER)
    server = {"host": url.host, "port": url.port or 5432, "user": url.username, "password": url.password,
              "dbname": url.database or "postgres", "connect_timeout": 5}
    subprocess.Popen([sys.executable, "-c", DROP_THEM, json.dumps(server), *names], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def empty_database_url(request, tmp_path) -> str:
    """A fresh, unmigrated database of the backend the test is parametrized with."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_databases")()


BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def migrated_databases(request, tmp_path_factory) -> Callable[[str, Path], str]:
    """A maker of fresh databases at the head revision: ``make(backend, folder)`` (a SQLite file goes in
    ``folder``). Each is a copy of one database migrated once per run and backend (a file copy on SQLite, where
    migrating takes 0.5-0.7 s here)."""
    sqlite_template: list[Path] = []

    def make(backend: str, folder: Path) -> str:
        if backend == "postgresql":
            return request.getfixturevalue("postgres_databases")(migrated=True)
        if not sqlite_template:
            sqlite_template.append(tmp_path_factory.mktemp("template") / "clinic.db")
            _migrate(f"sqlite:///{sqlite_template[0]}")
        copy = folder / f"clinic-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(sqlite_template[0], copy)
        return f"sqlite:///{copy}"

    return make


@pytest.fixture
def migrated_database_url(request, tmp_path, migrated_databases) -> str:
    """A fresh database at the head revision, of the backend the test is parametrized with (SQLite if none)."""
    return migrated_databases(getattr(request, "param", "sqlite"), tmp_path)


@pytest.fixture(scope="session")
def migrated_engines(request, tmp_path_factory) -> Iterator[dict[str, Engine]]:
    """One migrated database per backend for the whole run, made when first asked for.

    Kept here rather than in ``engine`` itself: pytest finalizes a parametrized session fixture whenever the next
    test asks for its other parameter, which would migrate a new database at every switch between backends.
    """
    engines: dict[str, Engine] = {}
    yield engines
    for made in engines.values():
        made.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def engine(request, migrated_engines, tmp_path_factory) -> Engine:
    """The run's migrated database of the backend the test is parametrized with."""
    if request.param not in migrated_engines:
        url = request.getfixturevalue("migrated_databases")(request.param, tmp_path_factory.mktemp("db"))
        migrated_engines[request.param] = make_engine(url)
    return migrated_engines[request.param]


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            yield session
        transaction.rollback()


@pytest.fixture
def app(engine: Engine, session: Session):
    app = create_app(Settings(database_url=str(engine.url), secret_key="test-secret-key-of-at-least-32-characters",
                              background_jobs=False), engine)
    app.dependency_overrides[get_session] = lambda: session
    return app


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


_HASH = hash_password(PASSWORD)


@pytest.fixture
def staff(session: Session, app) -> dict[Role, User]:
    """One user per role; the clinician user is linked to a clinician at a test location."""
    location = Location(name="Staff test site", time_zone="America/New_York")
    session.add(location)
    session.flush()
    clinician = Clinician(name="Staff Clinician", location_id=location.id)
    session.add(clinician)
    session.flush()
    users = {
        Role.ADMIN: User(username="t_admin", role=Role.ADMIN, password_hash=_HASH),
        Role.FRONT_DESK: User(username="t_desk", role=Role.FRONT_DESK, password_hash=_HASH),
        Role.CLINICIAN: User(username="t_clin", role=Role.CLINICIAN, clinician_id=clinician.id, password_hash=_HASH),
    }
    session.add_all(users.values())
    session.commit()
    return users


def bearer(app, user: User, minutes: int = 30) -> dict[str, str]:
    token = issue_token(user_id=user.id, stamp=user.security_stamp, key=app.state.token_key, minutes=minutes)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def as_admin(app, staff) -> dict[str, str]:
    return bearer(app, staff[Role.ADMIN])


@pytest.fixture
def as_desk(app, staff) -> dict[str, str]:
    return bearer(app, staff[Role.FRONT_DESK])


@pytest.fixture
def as_clinician(app, staff) -> dict[str, str]:
    return bearer(app, staff[Role.CLINICIAN])


# The longest modules, longest first (their tests' summed time in a clean-clone CI run, 2026-11-30: 361 s down to
# 43 s). The suite runs on two pytest-xdist workers, a module at a time (`--dist loadfile --no-loadscope-reorder`):
# a long module handed out last keeps one worker busy while the other idles, so these go out first. Only the order
# changes, never what runs; a module missing here just goes out in its usual turn.
LONGEST_MODULES = ("test_schema_fuzz.py", "test_race_pairs.py", "test_no_server_errors.py", "test_optimization.py",
                   "test_races.py", "test_waitlist_offers_accept.py", "test_task_engine.py",
                   "test_booking_state_machine.py", "test_plans.py", "test_message_history.py", "test_sms.py",
                   "test_reminders.py", "test_demo.py", "test_availability_cache.py", "test_fhir_versioning.py")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """The longest modules first, the rest in their usual order."""
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_MODULES.index(name) if name in LONGEST_MODULES else len(LONGEST_MODULES)

    items.sort(key=rank)  # stable: a module's tests keep their order


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark a test whose body failed, so fixtures (the browser page) can keep a screenshot."""
    report = yield
    if report.when == "call" and report.failed:
        item.failed_call = True
    return report
