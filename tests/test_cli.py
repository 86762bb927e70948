"""The ``clinic`` command, driven in-process with Typer's CliRunner.

Settings are read from the environment once and cached, so every test sets
DATABASE_URL itself and clears the cache on both sides. ``uvicorn.run`` is
replaced by a recorder for every test: no test here ever starts a server.
"""

import os
import re
from collections.abc import Callable, Iterator

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

import api.cli
from api.cli import app
from data.accounts import authenticate
from data.config import get_settings
from data.db import make_engine
from data.migrate import current_revision, head_revision, upgrade
from data.tables import Clinician, Location, User

runner = CliRunner()
BASE_URL = "CLINIC_PUBLIC_BASE_URL"
PASSWORD = "a-long-enough-password"


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch, tmp_path) -> Iterator[None]:
    """No CLINIC_* or DATABASE_URL leaks in from the caller; the default SQLite file lands in tmp_path."""
    for name in ("DATABASE_URL", "CLINIC_DATABASE_URL", "CLINIC_DEMO_PASSWORD", "CLINIC_SECRET_KEY", BASE_URL):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    os.environ.pop(BASE_URL, None)  # `clinic serve` sets it for the app it starts; a configured one comes back
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def served(monkeypatch) -> list[tuple[tuple, dict]]:
    """Calls that would have started uvicorn."""
    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(api.cli.uvicorn, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


@pytest.fixture
def use_database(monkeypatch) -> Callable[[str], None]:
    def use(url: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()

    return use


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """An empty SQLite file (not created yet)."""
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def migrated_sqlite(sqlite_url, use_database) -> str:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    use_database(sqlite_url)
    return sqlite_url


BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def empty_url(request, sqlite_url) -> str:
    """A fresh, unmigrated database of either backend."""
    return sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_databases")()


def revision_of(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def rows(url: str, table) -> list:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return session.exec(select(table)).all()
    finally:
        engine.dispose()


def sign_in(url: str, username: str, password: str) -> User | None:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return authenticate(session=session, username=username, password=password)
    finally:
        engine.dispose()


# clinic db


def test_db_upgrade_migrates_an_empty_database(empty_url, use_database):
    """`clinic db upgrade` is how an operator brings a new database to the code's schema."""
    use_database(empty_url)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert revision_of(empty_url) == head_revision()
    assert head_revision() in result.output


def test_db_current_on_an_empty_database(empty_url, use_database):
    """`clinic db current` says the database is empty and which revision the code needs, without migrating."""
    use_database(empty_url)
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 0, result.output
    assert "empty" in result.output
    assert head_revision() in result.output
    assert revision_of(empty_url) is None


def test_db_current_after_upgrade(migrated_sqlite):
    """Once migrated, `db current` reports the head and no longer says empty."""
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 0, result.output
    assert "empty" not in result.output
    assert result.output.count(head_revision()) == 2


# clinic serve


def test_serve_no_migrate_refuses_an_empty_database(empty_url, use_database, served):
    """Without migrations the service must not start on a schema it does not know, and must say how to fix it."""
    use_database(empty_url)
    result = runner.invoke(app, ["serve", "--no-migrate"])
    assert result.exit_code == 1, result.output
    assert "clinic db upgrade" in result.output
    assert served == []
    assert revision_of(empty_url) is None


@pytest.mark.postgres
def test_serve_does_not_migrate_postgres_by_default(postgres_databases, use_database, served):
    """On PostgreSQL, migrating is an explicit operator step (--migrate or `clinic db upgrade`)."""
    url = postgres_databases()
    use_database(url)
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1, result.output
    assert "clinic db upgrade" in result.output
    assert served == []
    assert revision_of(url) is None


def test_serve_migrates_embedded_sqlite_by_default(sqlite_url, use_database, served):
    """The embedded default must just work: migrate, then hand the app to uvicorn."""
    use_database(sqlite_url)
    result = runner.invoke(app, ["serve", "--port", "8123", "--host", "127.0.0.2"])
    assert result.exit_code == 0, result.output
    assert revision_of(sqlite_url) == head_revision()
    assert len(served) == 1
    args, kwargs = served[0]
    assert args == ("api.asgi:app",)
    assert kwargs["port"] == 8123 and kwargs["host"] == "127.0.0.2"
    assert rows(sqlite_url, Location) == [], "no demo without --demo"


def test_serve_demo_on_sqlite_prints_a_random_password(sqlite_url, use_database, served):
    """`clinic serve --demo` migrates, loads the demo, and shows the generated password once."""
    use_database(sqlite_url)
    result = runner.invoke(app, ["serve", "--demo"])
    assert result.exit_code == 0, result.output
    assert revision_of(sqlite_url) == head_revision()
    assert len(rows(sqlite_url, Clinician)) >= 8
    assert [call[0] for call in served] == [("api.asgi:app",)]
    match = re.search(r"demo password.*?:\s*(\S+)\s*$", result.output, re.MULTILINE)
    assert match, result.output
    password = match.group(1)
    assert sign_in(sqlite_url, "admin", password) is not None
    assert sign_in(sqlite_url, "clinician", password) is not None


def test_serve_demo_twice_with_a_chosen_password(sqlite_url, use_database, monkeypatch, served):
    """With CLINIC_DEMO_PASSWORD set it is not echoed; a restart keeps one copy of the demo."""
    use_database(sqlite_url)
    monkeypatch.setenv("CLINIC_DEMO_PASSWORD", "chosen-demo-password")
    for _ in range(2):
        get_settings.cache_clear()
        result = runner.invoke(app, ["serve", "--demo"])
        assert result.exit_code == 0, result.output
        assert "chosen-demo-password" not in result.output
    assert len(rows(sqlite_url, Location)) == 1
    assert len(rows(sqlite_url, User)) == 3
    assert sign_in(sqlite_url, "frontdesk", "chosen-demo-password") is not None
    assert len(served) == 2


def test_serve_refuses_several_workers_on_sqlite(sqlite_url, use_database, served):
    """The embedded SQLite database serves one process only."""
    use_database(sqlite_url)
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "PostgreSQL" in result.output
    assert served == []


@pytest.mark.parametrize("role", ["clock", "jobs"])
def test_worker_roles_of_the_task_engine_are_refused_on_sqlite(migrated_sqlite, role):
    """SQLite has no task engine: its one worker keeps the clock and does the jobs itself."""
    result = runner.invoke(app, ["worker", "--role", role])
    assert result.exit_code == 2, result.output
    assert "no task engine" in result.output

@pytest.mark.postgres
def test_serve_refuses_several_workers_without_a_shared_secret_key(postgres_databases, use_database, monkeypatch,
                                                                   served):
    """Each worker would sign tokens with its own random key, so a token would fail on the others at random."""
    url = postgres_databases()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    use_database(url)
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "CLINIC_SECRET_KEY" in result.output
    assert served == []

    monkeypatch.setenv("CLINIC_SECRET_KEY", "a-shared-secret-key-of-at-least-32-characters")
    get_settings.cache_clear()
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert served[0][1]["workers"] == 2


@pytest.mark.parametrize("host, base", [("127.0.0.2", "http://127.0.0.2:8123"), ("0.0.0.0", "http://localhost:8123"),
                                        ("::1", "http://[::1]:8123")])
def test_serve_hands_out_links_to_where_it_listens(sqlite_url, use_database, host, base):
    use_database(sqlite_url)
    assert runner.invoke(app, ["serve", "--port", "8123", "--host", host]).exit_code == 0
    assert get_settings().public_base_url == base


def test_serve_keeps_a_configured_public_base_url(sqlite_url, use_database, monkeypatch):
    use_database(sqlite_url)
    monkeypatch.setenv(BASE_URL, "https://clinic.example.org/")
    assert runner.invoke(app, ["serve", "--port", "8123"]).exit_code == 0
    assert get_settings().public_base_url == "https://clinic.example.org"


# clinic users create


def test_users_create_makes_a_user_who_can_sign_in(migrated_sqlite):
    """The first admin of a fresh install is made with `clinic users create`."""
    result = runner.invoke(app, ["users", "create", "grace", "--role", "admin", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "grace" in result.output
    user = sign_in(migrated_sqlite, "grace", PASSWORD)
    assert user is not None and user.role == "admin" and user.is_active
    assert sign_in(migrated_sqlite, "grace", PASSWORD + "!") is None


def test_users_create_lowercases_the_username(migrated_sqlite):
    """Sign-in ignores case (authenticate lowercases), so creating 'Grace' should give user 'grace'."""
    result = runner.invoke(app, ["users", "create", "Grace", "--role", "admin", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert [user.username for user in rows(migrated_sqlite, User)] == ["grace"]
    assert sign_in(migrated_sqlite, "Grace", PASSWORD) is not None


def test_users_create_again_resets_the_password(migrated_sqlite):
    """Running it again for the same name is the documented way to reset a forgotten password."""
    assert runner.invoke(app, ["users", "create", "grace", "--password", PASSWORD]).exit_code == 0
    result = runner.invoke(app, ["users", "create", "grace", "--password", "another-long-password"])
    assert result.exit_code == 0, result.output
    assert sign_in(migrated_sqlite, "grace", PASSWORD) is None
    assert sign_in(migrated_sqlite, "grace", "another-long-password") is not None
    assert len(rows(migrated_sqlite, User)) == 1


def test_users_create_refuses_a_short_password(migrated_sqlite):
    """A weak password is a usage error (exit 2) that says why, and nothing is written."""
    result = runner.invoke(app, ["users", "create", "grace", "--role", "admin", "--password", "short"])
    assert result.exit_code == 2, result.output
    assert "password" in result.output
    assert rows(migrated_sqlite, User) == []


def test_users_create_clinician_needs_a_clinician(migrated_sqlite):
    """A clinician account without its clinician would see no roster: refused before writing."""
    result = runner.invoke(app, ["users", "create", "drdana", "--role", "clinician", "--password", PASSWORD])
    assert result.exit_code == 2, result.output
    assert "clinician_id" in result.output
    assert rows(migrated_sqlite, User) == []


def test_users_create_on_an_unmigrated_database_says_what_to_do(sqlite_url, use_database):
    """Like `serve`, it should name `clinic db upgrade` rather than dump a database traceback."""
    use_database(sqlite_url)
    result = runner.invoke(app, ["users", "create", "grace", "--password", PASSWORD])
    assert result.exit_code == 1
    assert "clinic db upgrade" in result.output


def test_users_create_with_an_unknown_clinician_is_a_usage_error(migrated_sqlite):
    """A typo in --clinician-id is bad input: exit 2 with a message, nothing written."""
    result = runner.invoke(
        app, ["users", "create", "drdana", "--role", "clinician", "--clinician-id", "999", "--password", PASSWORD]
    )
    assert result.exit_code == 2, result.output
    assert "999" in result.output
    assert rows(migrated_sqlite, User) == []
