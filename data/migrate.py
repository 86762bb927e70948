"""Schema migrations with Alembic, configured in code so no ini file is needed."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command, op
from alembic.operations import BatchOperations
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
ENGINE_TABLES = "procrastinate_"  # scheduler.task_engine's queue, created by migration a5c8e2f4d6b1


@contextmanager
def altered_keeping_ids(table: str) -> Iterator[BatchOperations]:
    """``op.batch_alter_table`` for a table whose ids are never reused: on SQLite the table is rebuilt, and the
    rebuilt one must count its ids with AUTOINCREMENT from where the old one had got (a rebuild without it handed a
    deleted record's id out again: c5d81f0e2a63; with it alone, from the highest id still there)."""
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        with op.batch_alter_table(table) as batch_op:
            yield batch_op
        return
    counted = connection.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table}).scalar()
    with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        yield batch_op
    if counted is not None:
        connection.execute(text("UPDATE sqlite_sequence SET seq = MAX(seq, :seq) WHERE name = :t"),
                           {"t": table, "seq": counted})


class SchemaBehindError(RuntimeError):
    """The database is not at the schema this code expects."""


def ours(name: str | None, type_: str, parent_names: dict) -> bool:
    """What Alembic compares with the models: not the task engine's tables, which procrastinate's SQL makes."""
    return not (type_ == "table" and name is not None and name.startswith(ENGINE_TABLES))


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def new_revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the models; review it before committing."""
    command.revision(alembic_config(engine), message=message, autogenerate=True)


def ensure_current(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaBehindError(
            f"database schema is at revision {current or 'none (empty database)'}, "
            f"this version of the service needs {head}: run `clinic db upgrade`"
        )
