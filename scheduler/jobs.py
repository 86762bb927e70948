"""Periodic jobs run by APScheduler: the hold sweeper, the nightly runs and the retry of runs whose worker died.

The hold sweeper only tidies up: an expired hold already stops blocking the
moment it expires (searches ignore it, writers release it first), so a missed
or doubled sweep changes nothing but the timing of the audit entry. It also
passes the time of a waitlist offer nobody answered on to the next waiting
patient (``scheduler.waitlist.lapse_offers``), at most one sweep late; run
twice at once, it passes each one on once.

The nightly run fires per location at the configured local wall-clock time
(APScheduler's cron trigger in the location's zone, so DST nights are right:
on the spring-forward night 02:00 fires at the instant it would have been).
A trigger that fires twice on the fall-back night, or two workers firing the
same night, still give one run: the run record is unique per night.

On PostgreSQL the clock (``clinic worker``) only hands each tick to the task
engine (``scheduler.task_engine``), whose workers call these same functions;
on SQLite they run here, in the process, as they always did.

The reminder job writes, every ``reminder_seconds``, the reminders coming due
(``scheduler.reminders``); the delivery job sends them at their moment. Run
twice, or by two processes at once, it writes each reminder once.

The retention job erases, every hour, the provisional patient records of
public requests declined or lapsed ``request_retention_days`` ago
(``scheduler.retention``); run by several processes at once, it erases each
record once.

Every job is counted and timed by the process that does it
(``clinic_jobs_total``, ``clinic_job_duration_seconds``; ``scheduler.metrics``).
"""

from datetime import UTC, date, datetime
from typing import Protocol

from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine
from sqlmodel import Session, select

from data.config import Settings, get_settings
from data.db import serialized, session_scope
from data.tables import Location
from scheduler.booking import release_expired_holds
from scheduler.channels import WORKER, channel_senders
from scheduler.delivery import deliver_due
from scheduler.metrics import counted_job
from scheduler.optimization import recover_dead_runs, run_night
from scheduler.reminders import remind_due
from scheduler.retention import erase_lapsed_requests
from scheduler.waitlist import close_past, lapse_offers

RETENTION_SWEEP_HOURS = 1  # retention is counted in days: an hour late is on time


@counted_job
def sweep_expired_holds(engine: Engine, settings: Settings | None = None) -> int:
    """Release the holds whose time is up (how many), offer lapsed waitlist offers' times to the next patient, and
    close waiting requests whose last day has passed."""
    settings = settings or get_settings()
    now = datetime.now(UTC)
    with session_scope(serialized(engine)) as session:
        session.info["settings"] = settings  # the offers' messages carry this process's links
        released = release_expired_holds(session, now=now)
        lapse_offers(session, now=now, settings=settings)
        close_past(session, now=now)
        return released


@counted_job
def erase_lapsed_request_records(engine: Engine, settings: Settings) -> int:
    with session_scope(serialized(engine)) as session:
        return len(erase_lapsed_requests(session, now=datetime.now(UTC), settings=settings))


@counted_job
def deliver_messages(engine: Engine, settings: Settings) -> None:
    """Send what is due on every channel this process has a sender for (none configured: messages wait)."""
    senders = channel_senders(settings)
    try:
        if senders:
            deliver_due(engine, senders=senders, clock=lambda: datetime.now(UTC), worker=WORKER,
                        attempts=settings.message_attempts)
    finally:
        for sender in senders.values():
            sender.close()  # the round's connections end with it


@counted_job
def remind_patients(engine: Engine, settings: Settings) -> int:
    return remind_due(engine, settings=settings, now=datetime.now(UTC))


@counted_job
def nightly_run(engine: Engine, location_id: int, settings: Settings, run_date: date | None = None) -> None:
    run_night(engine, location_id=location_id, now=datetime.now(UTC), settings=settings, run_date=run_date)


@counted_job
def retry_dead_runs(engine: Engine, settings: Settings) -> None:
    recover_dead_runs(engine, now=datetime.now(UTC), settings=settings)


PERIODIC_JOBS = (sweep_expired_holds, deliver_messages, remind_patients, erase_lapsed_request_records,
                 retry_dead_runs)  # every one takes (engine, settings); the task engine has a task of each name


class Handoff(Protocol):
    """Where a clock's ticks go instead of running here: the task engine (``scheduler.task_engine.EngineClock``)."""

    def job(self, name: str) -> None: ...

    def night(self, location_id: int, zone: str) -> None: ...


def add_jobs(scheduler: BaseScheduler, engine: Engine, settings: Settings, *, nightly: bool,
             handoff: Handoff | None = None) -> BaseScheduler:
    """The clock's schedule; with ``handoff`` each tick only hands its job over, without it the job runs here."""

    def every(function, **interval) -> None:
        target, args = (handoff.job, [function.__name__]) if handoff else (function, [engine, settings])
        scheduler.add_job(target, "interval", args=args, id=function.__name__, max_instances=1, coalesce=True,
                          **interval)

    every(sweep_expired_holds, seconds=settings.hold_sweep_seconds)
    every(deliver_messages, seconds=settings.delivery_seconds)
    every(remind_patients, seconds=settings.reminder_seconds)
    every(erase_lapsed_request_records, hours=RETENTION_SWEEP_HOURS)
    if nightly:
        with Session(engine) as session:
            locations = session.exec(select(Location.id, Location.time_zone)).all()
        every(retry_dead_runs, seconds=settings.hold_sweep_seconds)
        at = settings.nightly_run_time
        for location_id, zone in locations:
            target, args = (handoff.night, [location_id, zone]) if handoff else (nightly_run,
                                                                                 [engine, location_id, settings])
            local_time = CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=ZoneInfo(zone))
            scheduler.add_job(target, local_time, args=args, id=f"nightly_run_{location_id}",
                              max_instances=1, coalesce=True, misfire_grace_time=3600)
    return scheduler


def start_background_jobs(engine: Engine, settings: Settings) -> BackgroundScheduler:
    """The jobs inside `clinic serve`: the sweeper, and the nightly runs if configured so.

    With ``engine_in_serve`` on PostgreSQL they are only handed to the task engine, for `clinic worker` to do."""
    handoff = None
    if settings.engine_in_serve and not settings.is_sqlite:
        from scheduler.task_engine import EngineClock, task_engine  # its tasks are this module's jobs

        handoff = EngineClock(task_engine(settings.database_url).open())
    scheduler = add_jobs(BackgroundScheduler(timezone=UTC), engine, settings, nightly=settings.nightly_in_serve,
                         handoff=handoff)
    scheduler.start()
    return scheduler
