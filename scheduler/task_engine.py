"""Background work on PostgreSQL through procrastinate, a task engine that lives in the service's own database.

Why procrastinate: its queue is a few tables in the database the service
already has, so no broker stands next to patient data; a queueing lock
(at most one job of a key waiting) and a lock (at most one running) are
checked by PostgreSQL itself. ``clinic worker`` processes on any number of
machines share the queue.

APScheduler stays the clock (``scheduler.jobs.add_jobs``): on PostgreSQL its
ticks only defer a job here (``EngineClock``), so any number of clocks may
run. A night is deferred with the queueing lock ``night:<location>:<date>``
(a second clock's copy is refused while the first waits) and the lock
``location:<id>`` (one solve of a location at a time); one that slips through
after the first started finds the night's run record taken and does nothing.

A worker killed mid-solve stops sending its heartbeat; after
``job_stalled_seconds`` the surviving workers put its job back in the queue
(``_retry_stalled_jobs``) and the one that takes it calls
``scheduler.optimization.run_night``, which finds the night claimed by a dead
owner (its advisory lock is gone with its connection) and finishes it under
the same record, one attempt more. The night's transaction of the killed
worker was rolled back by PostgreSQL, so the night is written once.

A night's job that fails outright (say the database blinked before the
run record was claimed) is tried once more a minute later; run_night makes
that safe, since a claimed night is never claimed again.

The tasks call the job functions of ``scheduler.jobs``; a worker hands them
its engine and settings through procrastinate's job context.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from data.config import Settings
from scheduler.jobs import PERIODIC_JOBS, nightly_run
from scheduler.optimization import worker_name

logger = logging.getLogger(__name__)

SOLVE_NIGHT = "solve_night"
NIGHT_RETRY = RetryStrategy(max_attempts=2, wait=60)  # a database blip before the claim must not lose a night
POOL_CONNECTIONS = 4  # a worker's queue connections: fetching, heartbeat, listening, the stalled-job check


def libpq_url(database_url: str) -> str:
    """The service's SQLAlchemy URL (``postgresql+psycopg://…``) as libpq understands it."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def task_engine(database_url: str) -> App:
    """The engine on the service's database, with a task per job function of ``scheduler.jobs``."""
    app = App(connector=PsycopgConnector(conninfo=libpq_url(database_url), min_size=1, max_size=POOL_CONNECTIONS))
    for function in PERIODIC_JOBS:
        app.task(name=function.__name__, pass_context=True)(_with_resources(function))
    app.task(name=SOLVE_NIGHT, pass_context=True, retry=NIGHT_RETRY)(solve_night)
    return app


def _with_resources(function: Callable[[Engine, Settings], object]) -> Callable[[JobContext], None]:
    def task(context: JobContext) -> None:
        function(context.additional_context["engine"], context.additional_context["settings"])
    return task


def solve_night(context: JobContext, location_id: int, night: str) -> None:
    """The night the clock fired for, even when a retry runs after local midnight."""
    nightly_run(context.additional_context["engine"], location_id, context.additional_context["settings"],
                date.fromisoformat(night))


class EngineClock:
    """A clock's ticks on PostgreSQL: each defers a job, refused while the same one already waits."""

    def __init__(self, app: App):
        self.app = app

    def job(self, name: str) -> None:
        self._defer(name, queueing_lock=name)

    def night(self, location_id: int, zone: str) -> None:
        night = datetime.now(UTC).astimezone(ZoneInfo(zone)).date().isoformat()  # as run_optimization's local_night
        self._defer(SOLVE_NIGHT, queueing_lock=f"night:{location_id}:{night}", lock=f"location:{location_id}",
                    location_id=location_id, night=night)

    def _defer(self, name: str, *, queueing_lock: str, lock: str | None = None, **arguments) -> None:
        try:
            self.app.configure_task(name, queueing_lock=queueing_lock, lock=lock).defer(**arguments)
        except AlreadyEnqueued:
            logger.debug("%s already waits in the queue", queueing_lock)


def run_jobs(app: App, *, engine: Engine, settings: Settings, concurrency: int) -> None:
    """Work the queue until SIGTERM or Ctrl+C (procrastinate then lets running jobs finish)."""
    asyncio.run(_work(app, engine=engine, settings=settings, concurrency=concurrency))


async def _work(app: App, *, engine: Engine, settings: Settings, concurrency: int) -> None:
    async with app.open_async():
        retrying = asyncio.create_task(_retry_stalled_jobs(app, settings))
        try:
            await app.run_worker_async(
                name=worker_name(), concurrency=concurrency,
                additional_context={"engine": engine, "settings": settings},
                update_heartbeat_interval=settings.job_heartbeat_seconds,
                stalled_worker_timeout=settings.job_stalled_seconds,
                delete_jobs="successful",  # a sweep every minute would otherwise pile up rows; failures stay
            )
        finally:
            retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retrying


async def _retry_stalled_jobs(app: App, settings: Settings) -> None:
    """Put back in the queue the jobs of workers silent for ``job_stalled_seconds`` (killed, machine lost).

    Every worker checks; when two retry the same job, the second finds it no longer running and leaves it."""
    while True:
        await asyncio.sleep(settings.job_heartbeat_seconds)
        try:
            stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.job_stalled_seconds)
        except ConnectorException as exc:  # the database is away; the next round tries again
            logger.warning("could not look for stalled jobs: %s", exc)
            continue
        for job in stalled:
            try:
                await app.job_manager.retry_job(job)
            except ConnectorException:
                continue
            logger.warning("job %s (%s) was left by a silent worker: queued again", job.id, job.task_name)
