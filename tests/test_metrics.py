"""What an operator scrapes and greps: /metrics counts what happened, by route template, and every request has an id
that comes back in its answer and on its log lines.

One served clinic (SQLite) for the module; counters are the process's, so each test reads how much they moved.
"""

import io
import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import text
from sqlmodel import Session, select

from api.access_log import RequestIdFilter, formatter
from api.deps import get_now
from api.main import create_app
from data.accounts import upsert_user
from data.config import Settings
from data.db import make_engine, session_scope
from data.enums import Channel, Role, RunStatus, RunTrigger
from data.migrate import upgrade
from data.tables import Location, OptimizationRun
from scheduler.booking import release_expired_holds
from scheduler.delivery import PermanentFailure, deliver_due
from scheduler.metrics import counted_job, on_commit
from tests.clinic_world import NOW, at, build_world
from tests.factories import API

PASSWORD = "metrics test password"


class RefusedMailbox:
    """A mail server that refuses every recipient for good."""

    def send(self, message):
        raise PermanentFailure("550 5.1.1 no such mailbox")

    def close(self):
        pass


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'clinic.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session)
        for n, patient in enumerate(world.patients):
            patient.email = f"patient{n}@example.org"
        upsert_user(session=session, username="desk", password=PASSWORD, role=Role.FRONT_DESK)
        session.commit()
    settings = Settings(database_url=url, secret_key="metrics-test-key-" + "k" * 32, background_jobs=False,
                        metrics=True)
    app = create_app(settings, engine)
    app.dependency_overrides[get_now] = lambda: NOW
    with TestClient(app) as client:
        token = client.post(f"{API}/auth/token", data={"username": "desk", "password": PASSWORD}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client, engine, world
    engine.dispose()


def scraped(client: TestClient) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics, keyed by its name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def booking(world, patient, start: datetime) -> dict:
    return {"service_id": world.eswt.id, "patient_id": patient.id, "start": start.isoformat(),
            "clinician_id": world.dana.id}


def test_requests_are_counted_by_route_template_and_status_never_by_record(clinic):
    client, _, world = clinic
    ann = world.patients[0]
    before = scraped(client)
    for _ in range(2):
        assert client.get(f"{API}/patients/{ann.id}").status_code == 200
    assert client.get(f"{API}/patients/999999").status_code == 404
    after = scraped(client)
    route = f"{API}/patients/{{ident}}"
    counted = "clinic_http_requests_total"
    assert value(after, counted, method="GET", route=route, status="200") - \
        value(before, counted, method="GET", route=route, status="200") == 2
    assert value(after, counted, method="GET", route=route, status="404") - \
        value(before, counted, method="GET", route=route, status="404") == 1
    timed = "clinic_http_request_duration_seconds_count"
    assert value(after, timed, method="GET", route=route) - value(before, timed, method="GET", route=route) == 3
    labels = {label for name, pairs in after for _, label in pairs}
    assert not [label for label in labels if "999999" in label or f"patients/{ann.id}" in label]


def test_conflicts_holds_and_searches_are_counted(clinic):
    client, engine, world = clinic
    ann, ben, cy = world.patients[:3]
    before = scraped(client)
    found = client.get(f"{API}/availability", params={"service_id": world.eswt.id, "start": at(3, 8).isoformat(),
                                                      "end": at(3, 18).isoformat()})
    assert found.status_code == 200, found.text
    assert client.post(f"{API}/appointments", json=booking(world, ann, at(3, 9))).status_code == 201
    taken = client.post(f"{API}/appointments", json=booking(world, ben, at(3, 9)))
    assert taken.status_code == 409, taken.text
    hold = client.post(f"{API}/holds", json=booking(world, ben, at(3, 10))).json()
    assert client.post(f"{API}/appointments", json={"hold_id": hold["id"]}).status_code == 201
    released = client.post(f"{API}/holds", json=booking(world, cy, at(3, 11))).json()
    assert client.delete(f"{API}/holds/{released['id']}").status_code == 200
    lapsing = client.post(f"{API}/holds", json={**booking(world, cy, at(3, 14)), "minutes": 5})
    assert lapsing.status_code == 201, lapsing.text
    with session_scope(engine) as session:
        assert release_expired_holds(session, now=NOW + timedelta(minutes=6)) == 1
    after = scraped(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("clinic_conflicts_total", route=f"{API}/appointments", cause="refused") == 1
    assert moved("clinic_http_requests_total", method="POST", route=f"{API}/appointments", status="409") == 1
    assert {event: moved("clinic_holds_total", event=event) for event in ("created", "booked", "released", "expired")} \
        == {"created": 3, "booked": 1, "released": 1, "expired": 1}
    assert moved("clinic_availability_search_seconds_count", surface="api") == 1


def test_a_count_tied_to_a_change_waits_for_its_commit(clinic):
    _, engine, _ = clinic
    counted = []
    with Session(engine) as session:
        session.exec(select(Location.id)).all()
        on_commit(session, lambda: counted.append("rolled back"))
        session.rollback()
        session.exec(select(Location.id)).all()
        on_commit(session, lambda: counted.append("committed"))
        session.commit()
    assert counted == ["committed"]


def test_a_job_is_counted_by_outcome_and_a_failing_one_still_raises():
    def outcome(name: str, result: str) -> float:
        return REGISTRY.get_sample_value("clinic_jobs_total", {"job": name, "outcome": result})

    @counted_job
    def metrics_test_job(fail: bool) -> str:
        if fail:
            raise RuntimeError("the database blinked")
        return "done"

    assert metrics_test_job(False) == "done"
    with pytest.raises(RuntimeError, match="blinked"):
        metrics_test_job(True)
    assert (outcome("metrics_test_job", "ok"), outcome("metrics_test_job", "failed")) == (1.0, 1.0)
    assert metrics_test_job.__name__ == "metrics_test_job", "the task engine names its tasks after the jobs"


def test_deliveries_queue_depth_and_the_last_night_are_scraped(clinic):
    client, engine, world = clinic
    assert client.post(f"{API}/appointments", json=booking(world, world.patients[2], at(5, 9))).status_code == 201
    before = scraped(client)
    assert value(before, "clinic_queue_depth", queue="patient_messages") >= 1, "the booking's e-mail waits"
    delivered = deliver_due(engine, senders={Channel.EMAIL: RefusedMailbox()}, clock=lambda: NOW, worker="w1")
    assert delivered.failed >= 1
    with session_scope(engine) as session:
        session.add(OptimizationRun(location_id=world.midtown.id, run_date=NOW.date(), trigger=RunTrigger.MANUAL,
                                    status=RunStatus.SUCCEEDED, started_at=NOW, finished_at=NOW + timedelta(seconds=7),
                                    gap=0.05, sessions_placed=4))
    after = scraped(client)
    assert value(after, "clinic_message_deliveries_total", channel="email", outcome="failed") - \
        value(before, "clinic_message_deliveries_total", channel="email", outcome="failed") == delivered.failed
    assert value(after, "clinic_queue_depth", queue="patient_messages") == 0
    assert value(after, "clinic_messages_unresolved", channel="email", status="failed") - \
        value(before, "clinic_messages_unresolved", channel="email", status="failed") == delivered.failed
    assert ("clinic_messages_unresolved", frozenset({("channel", "sms"), ("status", "uncertain")})) in after
    location = str(world.midtown.id)
    assert value(after, "clinic_solver_run_seconds", location=location) == 7
    assert value(after, "clinic_solver_gap", location=location) == 0.05
    assert value(after, "clinic_solver_sessions_placed", location=location) == 4
    assert value(after, "clinic_solver_run_succeeded", location=location) == 1


def test_metrics_are_served_only_when_configured_and_to_the_token(clinic):
    client, _, _ = clinic
    configured = client.app.state.settings
    try:
        client.app.state.settings = configured.model_copy(update={"metrics": False})
        assert client.get("/metrics").status_code == 404
        client.app.state.settings = configured.model_copy(update={"metrics_token": SecretStr("scraper-token-" + "s" * 20)})
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer scraper-token-" + "s" * 20}).status_code == 200
    finally:
        client.app.state.settings = configured
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("given", ["", "a" * 129, "line\nbreak", "tab\there", "quote\"d", "\x7f"],
                         ids=["none", "too-long", "newline", "tab", "quote", "control"])
def test_a_missing_or_hostile_request_id_is_replaced(clinic, given):
    client, _, _ = clinic
    answered = client.get("/health", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert answered != given and len(answered) == 32 and answered.isalnum()


def test_a_caller_s_request_id_is_kept_and_stamped_on_the_request_s_log_lines(clinic):
    client, engine, world = clinic
    assert client.post(f"{API}/appointments", json=booking(world, world.patients[0], at(8, 9))).status_code == 201
    deliver_due(engine, senders={Channel.EMAIL: RefusedMailbox()}, clock=lambda: NOW, worker="w1")
    failed = client.get(f"{API}/messages", params={"status": "failed"}).json()["items"][0]
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter("json"))
    ours = logging.getLogger("clinic")
    ours.addHandler(handler)
    level, ours.level = ours.level, logging.INFO
    try:
        dismissed = client.post(f"{API}/messages/{failed['id']}/dismiss", headers={"X-Request-ID": "lb-7f3a:42"})
        other = client.post(f"{API}/messages/{failed['id']}/dismiss")
    finally:
        ours.removeHandler(handler)
        ours.setLevel(level)
    assert dismissed.status_code == 200 and dismissed.headers["X-Request-ID"] == "lb-7f3a:42"
    assert other.status_code == 409
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    dismissal = [record for record in records if f"message {failed['id']} dismissed" in record["message"]]
    assert len(dismissal) == 1 and dismissal[0]["request_id"] == "lb-7f3a:42"
    assert {"time", "level", "logger"} <= dismissal[0].keys() and dismissal[0]["logger"] == "clinic.messages"
    assert [record["request_id"] for record in records] == ["lb-7f3a:42"] * len(records)


def test_a_log_line_outside_a_request_carries_no_request_id():
    record = logging.LogRecord("clinic.delivery", logging.INFO, __file__, 1, "message %s sent", (7,), None)
    RequestIdFilter().filter(record)
    assert json.loads(formatter("json").format(record))["request_id"] == "-"


@pytest.mark.postgres
@pytest.mark.parametrize("empty_database_url", [pytest.param("postgresql", id="postgresql")], indirect=True)
def test_on_postgresql_the_task_engine_s_queue_is_scraped_and_ready_needs_it(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine)  # with the task engine's migration: procrastinate's tables
    app = create_app(Settings(database_url=empty_database_url, metrics=True, background_jobs=False), engine)
    try:
        with TestClient(app) as client:
            assert client.get("/ready").json() == {"status": "ready"}
            with engine.begin() as connection:
                connection.execute(text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, scheduled_at) VALUES "
                    "('default', 'deliver_messages', NULL), ('default', 'sweep_expired_holds', NULL), "
                    "('default', 'retention', now() + interval '1 hour'), ('nights', 'solve_night', NULL)"))
                connection.execute(text("UPDATE procrastinate_events SET at = now() - interval '90 seconds' "
                                        "WHERE job_id = (SELECT min(id) FROM procrastinate_jobs)"))
            samples = scraped(client)
            assert value(samples, "clinic_queue_depth", queue="default") == 2, "the scheduled one is not due yet"
            assert value(samples, "clinic_queue_depth", queue="nights") == 1
            assert 90 <= value(samples, "clinic_queue_oldest_job_age_seconds", queue="default") < 600
            assert (value(samples, "clinic_queue_oldest_job_age_seconds", queue="nights")) < 60
            with engine.begin() as connection:
                connection.execute(text("DROP TABLE procrastinate_jobs CASCADE"))
            missing = client.get("/ready")
            assert missing.status_code == 503 and "task engine schema missing" in missing.json()["reason"]
            samples = scraped(client)
            assert ("clinic_queue_depth", frozenset({("queue", "default")})) not in samples
            assert ("clinic_queue_depth", frozenset({("queue", "patient_messages")})) in samples
    finally:
        engine.dispose()


def test_in_multiprocess_mode_a_scrape_sums_every_worker_s_counts(clinic, tmp_path):
    """What `clinic serve --workers N` does with PROMETHEUS_MULTIPROC_DIR set: each worker process counts into its
    own files there, and whichever worker answers /metrics reads them all."""
    client, _, _ = clinic
    count = ("from scheduler.metrics import HTTP_REQUESTS; "
             "HTTP_REQUESTS.labels(method='GET', route='/counted-by-a-worker', status='200').inc(3)")
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
                       cwd=Path(__file__).parents[1], check=True)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2, "one file per worker process"
    configured = client.app.state.settings
    client.app.state.settings = configured.model_copy(update={"metrics_dir": str(tmp_path)})
    try:
        samples = scraped(client)
    finally:
        client.app.state.settings = configured
    assert value(samples, "clinic_http_requests_total", method="GET", route="/counted-by-a-worker", status="200") == 6
