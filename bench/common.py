"""What every benchmark here needs: throwaway databases, percentiles, versions and readable JSON."""

import json
import math
import secrets
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Linear-interpolated percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="clinic_bench_") as folder:
        yield f"sqlite:///{Path(folder) / 'clinic.db'}"


def admin_connection(server: str, dbname: str | None = None) -> psycopg.Connection:
    """An autocommit connection to the server (its own database, or ``dbname``) for CREATE and DROP DATABASE."""
    url = make_url(server)
    return psycopg.connect(
        host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username, password=url.password,
        dbname=dbname or url.database or "postgres", autocommit=True, connect_timeout=5,
    )


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards even when the benchmark fails."""
    url = make_url(server)
    admin = admin_connection(server)
    name = f"clinic_bench_{secrets.token_hex(6)}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def server_version(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return "SQLite " + connection.exec_driver_sql("select sqlite_version()").scalar_one()
        return connection.exec_driver_sql("show server_version").scalar_one()


def versions(*packages: str) -> dict:
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def to_json(value, indent: int = 0) -> str:
    """JSON with two-space indentation, short lists and small flat objects kept on one line."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict) and value:
        flat = json.dumps(value, default=str)
        if not any(isinstance(item, dict | list | tuple) for item in value.values()) and len(flat) <= 100:
            return flat
        items = [f"{inner}{json.dumps(str(key))}: {to_json(item, indent + 2)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list | tuple) and value:
        flat = json.dumps(list(value), default=str)
        if not any(isinstance(item, dict | list | tuple) for item in value) and len(flat) <= 100:
            return flat
        return "[\n" + ",\n".join(f"{inner}{to_json(item, indent + 2)}" for item in value) + f"\n{pad}]"
    return json.dumps(value, default=str)


def clinic_script() -> str:
    """The `clinic` entry point next to this interpreter, or the one on PATH."""
    beside = Path(sys.executable).parent / "clinic"
    return str(beside) if beside.exists() else "clinic"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
