"""The ``clinic`` command: serve, migrate, load the demo clinic, manage users."""

import json
import os
import secrets
import signal
import threading
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import select

from api.schemas.clients import BackendClientCreate
from api.schemas.people import UserCreate
from api.urls import SMART_TOKEN_PATH
from api.worker_metrics import serve_metrics
from data.accounts import upsert_user
from data.config import Settings, get_settings
from data.db import make_engine, session_scope
from data.demo import ensure_demo_users, load_demo_clinic
from data.enums import Role, RunStatus, RunTrigger
from data.errors import Invalid, NotFound
from data.migrate import SchemaBehindError, current_revision, ensure_current, head_revision, new_revision, upgrade
from data.tables import Clinician, Location, OptimizationRun
from scheduler import backend_clients
from scheduler.jobs import add_jobs
from scheduler.optimization import preload_for_solves, run_locations, run_optimization
from scheduler.task_engine import EngineClock, run_jobs, task_engine

preload_for_solves(__name__)  # the ``clinic`` script imports this module; each night's solve process runs it again

app = typer.Typer(help="Treatment-plan scheduling and equipment booking for rehab clinics.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
clients_app = typer.Typer(help="Systems (EHRs) that connect through SMART Backend Services.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(clients_app, name="clients")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo clinic and its three demo users")] = False,
    migrate: Annotated[
        bool | None,
        typer.Option("--migrate/--no-migrate", help="Apply migrations first (default: only for embedded SQLite)"),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (PostgreSQL and CLINIC_SECRET_KEY only)")] = 1,
) -> None:
    """Run the web service."""
    # The app, here or in uvicorn's worker processes, reads its settings from the environment.
    os.environ.setdefault("CLINIC_PUBLIC_BASE_URL", _served_at(host, port))
    get_settings.cache_clear()
    settings = get_settings()
    if workers > 1 and settings.is_sqlite:
        typer.secho("the embedded SQLite database serves one process; use PostgreSQL for more", err=True)
        raise typer.Exit(code=2)
    if workers > 1 and settings.secret_key is None:
        typer.secho("several workers must sign tokens with one key: set CLINIC_SECRET_KEY (32+ random characters)",
                    err=True)
        raise typer.Exit(code=2)
    engine = make_engine(settings.database_url)
    if migrate if migrate is not None else settings.is_sqlite:
        upgrade(engine)
    _require_current(engine, "refusing to start")
    if demo:
        _load_demo(engine, settings)
    engine.dispose()
    uvicorn.run("api.asgi:app", host=host, port=port, workers=workers, proxy_headers=True)


@app.command()
def demo() -> None:
    """Load the demo clinic and its demo users into the configured (migrated) database."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    _require_current(engine, "cannot load the demo")
    _load_demo(engine, settings)
    engine.dispose()


def _served_at(host: str, port: int) -> str:
    """The URL this machine reaches `clinic serve` at, the public base URL unless one is configured."""
    name = "localhost" if host in ("", "0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    return f"http://{name}:{port}"


def _require_current(engine: Engine, doing: str) -> None:
    """Exit with the fix-it message when the schema is behind, instead of a traceback."""
    try:
        ensure_current(engine)
    except SchemaBehindError as exc:
        typer.secho(f"{doing}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc


def _load_demo(engine: Engine, settings: Settings) -> None:
    password = settings.demo_password.get_secret_value() if settings.demo_password else None
    shown = password is None
    password = password or secrets.token_urlsafe(12)
    today = datetime.now(ZoneInfo(settings.time_zone)).date()
    with session_scope(engine) as session:
        load_demo_clinic(session, today=today)
        ensure_demo_users(session, password=password)
    typer.echo("demo clinic loaded; users admin, frontdesk and clinician")
    if shown:
        typer.secho(f"demo password (set CLINIC_DEMO_PASSWORD to choose one): {password}", fg=typer.colors.YELLOW)


class WorkerRole(StrEnum):
    ALL = "all"
    CLOCK = "clock"
    JOBS = "jobs"


@app.command()
def worker(
    role: Annotated[WorkerRole, typer.Option(help=(
        "all: the clock and the jobs in this process. On PostgreSQL the work is shared through the task engine "
        "(procrastinate) by any number of processes: 'clock' only hands each tick (a location's nightly run at its "
        "local time, the hold sweeper, message delivery, reminders, retention) to the engine, 'jobs' only does the "
        "work. On the embedded SQLite database only 'all' runs"))] = WorkerRole.ALL,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs this process does at once (PostgreSQL)")] = 1,
    metrics_port: Annotated[int | None, typer.Option(
        min=0, max=65535, envvar="CLINIC_WORKER_METRICS_PORT",
        help="Serve this process's job counters for Prometheus at http://HOST:PORT/metrics (behind "
             "CLINIC_METRICS_TOKEN when set); off when not given")] = None,
    metrics_host: Annotated[str, typer.Option(envvar="CLINIC_WORKER_METRICS_HOST",
                                              help="Address the metrics port listens on")] = "127.0.0.1",
) -> None:
    """Run the periodic jobs (nightly optimization per location, hold sweeper, messages) as their own process."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    _require_current(engine, "refusing to start")
    if metrics_port is not None:
        server = serve_metrics(settings, metrics_host, metrics_port)
        typer.echo(f"metrics: http://{metrics_host}:{server.server_port}/metrics")
    if settings.is_sqlite:
        if role != WorkerRole.ALL:
            typer.secho("the embedded SQLite database has no task engine: run `clinic worker` (role all)", err=True)
            raise typer.Exit(code=2)
        scheduler = add_jobs(BlockingScheduler(timezone=UTC), engine, settings, nightly=True)
        typer.echo(f"worker: {len(scheduler.get_jobs())} jobs scheduled; Ctrl+C to stop")
        scheduler.start()
        return
    clock = None
    if role != WorkerRole.JOBS:
        clock = add_jobs(BackgroundScheduler(timezone=UTC), engine, settings, nightly=True,
                         handoff=EngineClock(task_engine(settings.database_url).open()))
        clock.start()
        typer.echo(f"clock: {len(clock.get_jobs())} jobs handed to the task engine on schedule")
    if role == WorkerRole.CLOCK:
        typer.echo("Ctrl+C to stop")
        _wait_for_stop()
    else:
        typer.echo(f"jobs: working the task engine's queue, {concurrency} at a time; Ctrl+C to stop")
        run_jobs(task_engine(settings.database_url), engine=engine, settings=settings, concurrency=concurrency)
    if clock is not None:
        clock.shutdown(wait=False)
    engine.dispose()


def _wait_for_stop() -> None:
    """Sleep until SIGTERM or Ctrl+C: the clock's ticks run in its own thread."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


@app.command()
def optimize(
    location: Annotated[int | None, typer.Option(help="Location id; default: every location, in parallel")] = None,
    night: Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="Night to record")] = None,
    budget: Annotated[float, typer.Option(help="Total seconds for all locations")] = 600.0,
) -> None:
    """Run the optimization now (a manual run) for one location, or for all of them within a time budget."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    _require_current(engine, "cannot optimize")
    now = datetime.now(UTC)
    if location is None:
        with session_scope(engine) as session:
            ids = list(session.exec(select(Location.id).order_by(Location.id)))
        run_ids = run_locations(settings.database_url, location_ids=ids, trigger=RunTrigger.MANUAL, now=now,
                                settings=settings, budget_seconds=budget)
        with session_scope(engine) as session:
            runs = [session.get(OptimizationRun, run_id) for run_id in run_ids if run_id]
            for run in runs:
                _report(run)
            failed = any(run.status == RunStatus.FAILED for run in runs)
    else:
        try:
            run = run_optimization(engine, location_id=location, trigger=RunTrigger.MANUAL, now=now,
                                   settings=settings, run_date=night.date() if night else None)
        except NotFound as exc:
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(code=2) from exc
        _report(run)
        failed = run.status == RunStatus.FAILED
    engine.dispose()
    if failed:
        raise typer.Exit(code=1)


def _report(run: OptimizationRun) -> None:
    typer.echo(f"location {run.location_id}, run {run.id}: {run.status.value}, {len(run.changes)} changes"
               + (f" ({run.error})" if run.error else ""))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply migrations up to the latest schema."""
    engine = make_engine(get_settings().database_url)
    upgrade(engine, revision)
    typer.echo(f"database schema at {current_revision(engine)}")
    engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the one this code needs."""
    engine = make_engine(get_settings().database_url)
    typer.echo(f"database: {current_revision(engine) or 'empty'}; code needs: {head_revision()}")
    engine.dispose()


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Autogenerate a migration from the models (review it before committing)."""
    new_revision(make_engine(get_settings().database_url), message)


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[Role, typer.Option(help="admin, front_desk or clinician")] = Role.ADMIN,
    clinician_id: Annotated[int | None, typer.Option(help="Required for the clinician role")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = ...,
) -> None:
    """Create a staff account (or reset its password), e.g. the first admin."""
    try:
        user = UserCreate(username=username, role=role, clinician_id=clinician_id, password=password)
    except ValidationError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    engine = make_engine(get_settings().database_url)
    _require_current(engine, "cannot create the user")
    with session_scope(engine) as session:
        if user.clinician_id is not None and session.get(Clinician, user.clinician_id) is None:
            typer.secho(f"clinician {user.clinician_id} does not exist", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=2)
        upsert_user(session=session, username=user.username, password=user.password, role=user.role,
                    clinician_id=user.clinician_id)
    engine.dispose()
    typer.echo(f"user {user.username} ({user.role.value}) ready")


@clients_app.command("register")
def clients_register(
    name: Annotated[str, typer.Argument(help="Who the client is, e.g. 'Hospital EHR'")],
    scope: Annotated[str, typer.Option(help="Scopes it may be granted, e.g. 'system/Slot.rs system/Appointment.rs'")],
    jwks_file: Annotated[Path | None, typer.Option(help="File with its public keys (a JWK Set)", exists=True,
                                                   dir_okay=False)] = None,
    jwks_uri: Annotated[str | None, typer.Option(help="Or the https URL it publishes its JWK Set at")] = None,
) -> None:
    """Register a backend client; prints the client_id it signs its JWTs as and the token endpoint."""
    try:
        jwks = json.loads(jwks_file.read_text()) if jwks_file else None
    except (ValueError, OSError) as exc:
        typer.secho(f"{jwks_file} is not a JSON JWK Set: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    try:
        asked = BackendClientCreate(client_name=name, scope=scope, jwks=jwks, jwks_uri=jwks_uri)
    except ValidationError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    client = _with_clients(lambda session: backend_clients.register(
        session, client_name=asked.client_name, jwks=asked.jwks, jwks_uri=asked.jwks_uri, scope=asked.scope,
        now=datetime.now(UTC)))
    settings = get_settings()
    typer.echo(f"client_id: {client.client_id}\ntoken endpoint: {settings.public_base_url}{SMART_TOKEN_PATH}\n"
               f"scope: {client.scope}")


@clients_app.command("list")
def clients_list() -> None:
    """Every backend client: client_id, whether it is enabled, its name and scopes."""
    for client in _with_clients(backend_clients.every):
        state = f"disabled {client.disabled_at:%Y-%m-%d}" if client.disabled_at else "enabled"
        typer.echo(f"{client.client_id}  {state}  {client.client_name}  [{client.scope}]")


@clients_app.command("disable")
def clients_disable(client_id: str) -> None:
    """Refuse the client new tokens; the ones it holds stop working at once."""
    _with_clients(lambda session: backend_clients.change(session, client_id=client_id, values={"disabled": True},
                                                         now=datetime.now(UTC)))
    typer.echo(f"client {client_id} disabled")


@clients_app.command("enable")
def clients_enable(client_id: str) -> None:
    """Let a disabled client sign in again."""
    _with_clients(lambda session: backend_clients.change(session, client_id=client_id, values={"disabled": False},
                                                         now=datetime.now(UTC)))
    typer.echo(f"client {client_id} enabled")


def _with_clients(work):
    """``work(session)`` on the configured database, committed; bad input or an unknown client exits with 2."""
    engine = make_engine(get_settings().database_url)
    _require_current(engine, "cannot manage backend clients")
    try:
        with session_scope(engine) as session:
            result = work(session)
            session.flush()
            session.expunge_all()
            return result
    except (Invalid, NotFound) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    finally:
        engine.dispose()
