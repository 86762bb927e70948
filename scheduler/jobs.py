"""Periodic jobs run by APScheduler inside the service process.

The hold sweeper only tidies up: an expired hold already stops blocking the
moment it expires (searches ignore it, writers release it first), so a missed
or doubled sweep changes nothing but the timing of the audit entry.
"""

from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from data.config import Settings
from data.db import serialized, session_scope
from scheduler.booking import release_expired_holds


def sweep_expired_holds(engine: Engine) -> int:
    with session_scope(serialized(engine)) as session:
        return release_expired_holds(session, now=datetime.now(UTC))


def start_background_jobs(engine: Engine, settings: Settings) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(sweep_expired_holds, "interval", seconds=settings.hold_sweep_seconds, args=[engine],
                      id="sweep_expired_holds", max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
