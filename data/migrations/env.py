"""Alembic environment: runs on the engine handed over by ``data.migrate``."""

from alembic import context
from sqlmodel import SQLModel

import data.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from data.migrate import ours

config = context.config
engine = config.attributes["engine"]


def _foreign_keys(connection, enforced: bool) -> None:
    """Switch SQLite's enforcement, outside any transaction (inside one the pragma does nothing)."""
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Rebuilding a table (batch mode) drops it: with enforcement on, that would delete or refuse its children.
        _foreign_keys(connection, False)
    try:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            render_as_batch=sqlite,
            compare_type=True,
            include_name=ours,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration left rows pointing at missing rows: {broken[:10]}")
        connection.commit()
    finally:
        if sqlite:
            connection.rollback()
            _foreign_keys(connection, True)
