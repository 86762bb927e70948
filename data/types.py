"""Column types shared by the tables."""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """An instant stored in UTC: ``timestamptz`` on PostgreSQL, naive UTC text on SQLite.

    Values always come back timezone-aware in UTC, whatever the backend, and a
    naive value is refused on the way in, so no code path can silently mix
    wall-clock and absolute times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an instant with an offset is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class epoch_minute(FunctionElement):
    """Whole minutes since the Unix epoch of a UTCDateTime column, computed by the database.

    Availability reads thousands of allocation spans; converting them in SQL
    skips building a timezone-aware datetime per value in Python.
    """

    type = BigInteger()
    inherit_cache = True
    name = "epoch_minute"


@compiles(epoch_minute, "postgresql")
def _epoch_minute_postgresql(element, compiler, **kw) -> str:
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)}) / 60) AS BIGINT)"


@compiles(epoch_minute, "sqlite")
def _epoch_minute_sqlite(element, compiler, **kw) -> str:
    seconds = compiler.process(func.strftime("%s", *element.clauses.clauses), **kw)
    return f"(CAST({seconds} AS INTEGER) / 60)"
