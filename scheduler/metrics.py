"""What an operator watches, in Prometheus' terms.

Two kinds of figures. Events (requests, conflicts, holds, searches, message
deliveries) are counted by the process they happen in, with prometheus_client;
under ``clinic serve --workers N`` the workers share them through
``PROMETHEUS_MULTIPROC_DIR`` (see docs/operations.md). States (how deep the
queues are, how the last night of each location went) are read from the
database when /metrics is scraped, so they are right whichever process or
machine did the work, and survive restarts.

A count tied to a database change (a hold placed) is taken only once the
transaction commits: a rolled-back booking counts nothing.
"""

import functools
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Connection, Engine, event, func, text
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from data.config import Settings
from data.enums import Channel, MessageStatus, RunStatus
from data.tables import OptimizationRun, PatientMessage
from scheduler.message_history import PROBLEMS

HTTP_REQUESTS = Counter("clinic_http_requests", "Requests answered, by route template and status",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("clinic_http_request_duration_seconds", "Time to answer a request, by route template",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CONFLICTS = Counter("clinic_conflicts", "409 answers: the slot or record was taken or changed meanwhile",
                    ["route", "cause"])
HOLDS = Counter("clinic_holds", "Holds placed, booked, released and expired (committed)", ["event"])
AVAILABILITY_SECONDS = Histogram("clinic_availability_search_seconds", "Time of one availability search",
                                 ["surface"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
AVAILABILITY_ANSWERS = Counter("clinic_availability_answers", "HTTP availability answers by source: memory (nothing "
                               "they depend on changed since) or route (searched)", ["source"])
DELIVERIES = Counter("clinic_message_deliveries", "Attempts to hand a patient message to its channel, by outcome",
                     ["channel", "outcome"])
JOBS = Counter("clinic_jobs", "Background jobs done by this process, by job and outcome (ok, failed)",
               ["job", "outcome"])
JOB_SECONDS = Histogram("clinic_job_duration_seconds", "Time of one background job, by job", ["job"],
                        buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800))

_COMMITTED = "clinic_metrics_on_commit"
# An audit action (scheduler.audit) and the hold event it is, given the status before it.
_HOLD_EVENTS = {("hold", None): "created", ("book", "pending"): "booked", ("release", "pending"): "released",
                ("cancel", "pending"): "released", ("hold_expired", "pending"): "expired"}


def on_commit(session: Session, count: Callable[[], None]) -> None:
    """Run ``count`` once ``session``'s transaction commits; forget it on rollback."""
    session.info.setdefault(_COMMITTED, []).append(count)


@event.listens_for(OrmSession, "after_commit")
def _count_committed(session: OrmSession) -> None:
    for count in session.info.pop(_COMMITTED, []):
        count()


@event.listens_for(OrmSession, "after_soft_rollback")
def _forget_rolled_back(session: OrmSession, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint inside it
        session.info.pop(_COMMITTED, None)


def counted_job(job: Callable) -> Callable:
    """``job`` counted and timed under its own name, wherever it runs: in `clinic serve`'s or a worker's clock
    (SQLite), or in a task engine worker (PostgreSQL). A job that raises counts as failed and still raises."""

    @functools.wraps(job)
    def counted(*args, **kwargs):
        began, outcome = time.perf_counter(), "failed"
        try:
            result = job(*args, **kwargs)
            outcome = "ok"
            return result
        finally:
            JOB_SECONDS.labels(job=job.__name__).observe(time.perf_counter() - began)
            JOBS.labels(job=job.__name__, outcome=outcome).inc()

    return counted


def counted_here(settings: Settings) -> CollectorRegistry:
    """The counters to serve: this process's, or with ``PROMETHEUS_MULTIPROC_DIR`` the sum of every process
    counting into that directory."""
    if not settings.metrics_dir:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=settings.metrics_dir)
    return registry


def scrape_allowed(settings: Settings, authorization: str) -> bool:
    """Whether a scrape may read the metrics: always without ``CLINIC_METRICS_TOKEN``, else only with it as a
    bearer token (compared in constant time)."""
    if settings.metrics_token is None:
        return True
    return secrets.compare_digest(authorization.encode(),
                                  f"Bearer {settings.metrics_token.get_secret_value()}".encode())


def count_appointment_change(session: Session, *, action: str, before: dict | None) -> None:
    """A hold event, if the audited change is one."""
    hold_event = _HOLD_EVENTS.get((action, (before or {}).get("status")))
    if hold_event:
        on_commit(session, HOLDS.labels(event=hold_event).inc)


@dataclass(frozen=True)
class QueueLevel:
    queue: str
    depth: int
    oldest_age_seconds: float


QueueReader = Callable[[Session, datetime], Iterable[QueueLevel]]


def outbox_levels(session: Session, now: datetime) -> list[QueueLevel]:
    """Patient messages due and not yet handed over: the work queue of the in-process (SQLite) setup."""
    depth, oldest = session.exec(
        select(func.count(), func.min(PatientMessage.next_attempt_at))
        .where(PatientMessage.status == MessageStatus.PENDING, PatientMessage.next_attempt_at <= now)
    ).one()
    age = (now - _utc(oldest)).total_seconds() if oldest else 0.0
    return [QueueLevel("patient_messages", depth, max(age, 0.0))]


ENGINE_QUEUE_LEVELS = text("""
    SELECT job.queue_name, count(*), min(greatest(job.scheduled_at, queued.since))
    FROM procrastinate_jobs job
    CROSS JOIN LATERAL (SELECT max(event.at) AS since FROM procrastinate_events event
                        WHERE event.job_id = job.id AND event.type IN ('deferred', 'deferred_for_retry')) queued
    WHERE job.status = 'todo' AND (job.scheduled_at IS NULL OR job.scheduled_at <= :now)
    GROUP BY job.queue_name""")
ENGINE_DEFAULT_QUEUE = "default"  # procrastinate's, where every job of scheduler.task_engine goes


def engine_queue_exists(connection: Connection | Session) -> bool:
    """procrastinate's jobs table (PostgreSQL), looked up in the catalog: no error, no lock."""
    return connection.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar_one()


def engine_levels(session: Session, now: datetime) -> list[QueueLevel]:
    """Jobs of the task engine (procrastinate, PostgreSQL) due and not yet taken by a worker, per queue; waiting
    since they were deferred (or put back for a retry), or since their scheduled time if that is later. None
    while its schema is missing (``/ready`` says so)."""
    if not engine_queue_exists(session):
        return []
    levels = {queue: QueueLevel(queue, depth, max((now - _utc(oldest)).total_seconds(), 0.0) if oldest else 0.0)
              for queue, depth, oldest in session.execute(ENGINE_QUEUE_LEVELS, {"now": now})}
    return [levels.get(ENGINE_DEFAULT_QUEUE, QueueLevel(ENGINE_DEFAULT_QUEUE, 0, 0.0)),
            *(level for queue, level in levels.items() if queue != ENGINE_DEFAULT_QUEUE)]


def stored_levels(session: Session, now: datetime) -> list[QueueLevel]:
    """The outbox everywhere; on PostgreSQL also the task engine's queues."""
    engine_queues = engine_levels(session, now) if session.get_bind().dialect.name == "postgresql" else []
    return [*outbox_levels(session, now), *engine_queues]


_queue_reader: QueueReader = stored_levels


def read_queues_with(reader: QueueReader) -> None:
    """Where queue depth and job age come from, if not :func:`stored_levels` (another task engine's reader)."""
    global _queue_reader
    _queue_reader = reader


class StoredState:
    """A collector of what the database knows: queue levels, each location's last finished night and the patient
    messages nobody has settled."""

    def __init__(self, engine: Engine, now: datetime):
        self.engine, self.now = engine, now

    def collect(self) -> Iterator[Metric]:
        now = self.now
        depth = GaugeMetricFamily("clinic_queue_depth", "Jobs waiting for a worker", labels=["queue"])
        age = GaugeMetricFamily("clinic_queue_oldest_job_age_seconds", "How long the oldest waiting job has waited",
                                labels=["queue"])
        seconds = GaugeMetricFamily("clinic_solver_run_seconds", "The last finished run of the location: its length",
                                    labels=["location"])
        gap = GaugeMetricFamily("clinic_solver_gap", "The last finished run: its gap to the proven bound (0 optimal)",
                                labels=["location"])
        placed = GaugeMetricFamily("clinic_solver_sessions_placed", "The last finished run: sessions it placed",
                                   labels=["location"])
        succeeded = GaugeMetricFamily("clinic_solver_run_succeeded", "The last finished run: 1 succeeded, 0 not",
                                      labels=["location"])
        finished = GaugeMetricFamily("clinic_solver_run_finished_timestamp_seconds",
                                     "The last finished run: when it ended (Unix time)", labels=["location"])
        unresolved = GaugeMetricFamily("clinic_messages_unresolved", "Patient messages given up or uncertain and not "
                                       "dismissed: the front desk's list of patients to call", labels=["channel",
                                                                                                       "status"])
        with Session(self.engine) as session:
            for level in _queue_reader(session, now):
                depth.add_metric([level.queue], level.depth)
                age.add_metric([level.queue], level.oldest_age_seconds)
            for run in _last_finished_runs(session):
                location = str(run.location_id)
                seconds.add_metric([location], (_utc(run.finished_at) - _utc(run.started_at)).total_seconds())
                if run.gap is not None:
                    gap.add_metric([location], run.gap)
                placed.add_metric([location], run.sessions_placed)
                succeeded.add_metric([location], 1 if run.status == RunStatus.SUCCEEDED else 0)
                finished.add_metric([location], _utc(run.finished_at).timestamp())
            for (channel, message_status), count in _unresolved_messages(session).items():
                unresolved.add_metric([channel.value, message_status.value], count)
        yield from (depth, age, seconds, gap, placed, succeeded, finished, unresolved)


def _last_finished_runs(session: Session) -> list[OptimizationRun]:
    last = (select(func.max(OptimizationRun.id)).where(OptimizationRun.finished_at.is_not(None))
            .group_by(OptimizationRun.location_id))
    return list(session.exec(select(OptimizationRun).where(OptimizationRun.id.in_(last))))


def _unresolved_messages(session: Session) -> dict[tuple[Channel, MessageStatus], int]:
    """Counted by whichever process delivered them: the database knows every worker's failures."""
    counts = dict.fromkeys(((channel, message_status) for channel in Channel for message_status in PROBLEMS), 0)
    counts.update({(channel, message_status): count for channel, message_status, count in session.exec(
        select(PatientMessage.channel, PatientMessage.status, func.count())
        .where(PatientMessage.status.in_(PROBLEMS), PatientMessage.dismissed_at.is_(None))
        .group_by(PatientMessage.channel, PatientMessage.status))})
    return counts


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
