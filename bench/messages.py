"""Delivery benchmark: 10,000 reminders due at once, sent to a local SMTP server by the delivery worker.

What it builds: a throw-away database (SQLite by default, ``--postgres-server``
for PostgreSQL), migrated, with the demo clinic, and ``--messages`` (10,000)
outbox rows of the reminder kind for the demo's patients, written through
``scheduler.outbox.tell`` (templates, links, .ics none: reminders carry no
calendar), then made due at one instant, just before the workers start. An aiosmtpd server on a free loopback
port receives them and stamps each arrival.

What it measures: ``--workers`` delivery workers (threads, each calling
``scheduler.delivery.deliver_due`` in a loop with its own worker name, as
separate ``clinic worker`` processes would) from the due instant until the
outbox is empty: messages per second, and the delay from the due time to the
SMTP server's acceptance (p50, p99, max). It checks every message arrived
exactly once (by Message-ID) and every row is ``sent``. Prints JSON and keeps
it in ``bench/results/messages.json``.

Usage: ``python bench/messages.py [--messages 10000] [--workers 1 2] [--batch 50] [--postgres-server URL]``
"""

import argparse
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import update
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import free_port, percentile, postgres_database, sqlite_database, to_json  # noqa: E402
from data.config import Settings  # noqa: E402
from data.db import make_engine  # noqa: E402
from data.demo import load_demo_clinic  # noqa: E402
from data.enums import Channel, MessageKind, MessageStatus  # noqa: E402
from data.migrate import upgrade  # noqa: E402
from data.tables import Location, Patient, PatientMessage  # noqa: E402
from scheduler.delivery import deliver_due  # noqa: E402
from scheduler.email_channel import SmtpSender  # noqa: E402
from scheduler.outbox import Telling, tell  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "messages.json"


class Arrivals:
    """The SMTP server's side: when each Message-ID arrived."""

    def __init__(self):
        self.at: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        stamp = time.time()
        header = next((line for line in envelope.content.split(b"\r\n") if line.lower().startswith(b"message-id:")),
                      b"")
        with self.lock:
            self.at.setdefault(header.split(b":", 1)[-1].strip().decode(), []).append(stamp)
        return "250 OK"


def write_reminders(url: str, count: int, due: datetime) -> None:
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings(database_url=url, public_base_url="https://clinic.example.org")
    with Session(engine, info={"settings": settings}) as session:
        load_demo_clinic(session, today=due.date())
        session.commit()
        patients = session.exec(select(Patient)).all()
        location = session.exec(select(Location)).first()
        for patient in patients:
            patient.email, patient.sms_messages = f"patient{patient.id}@example.org", False
        for n in range(count):
            patient = patients[n % len(patients)]
            tell(session, Telling(MessageKind.REMINDER, f"bench:{n}", patient.id, location.id,
                                  facts={"service": "Shockwave therapy", "when": due + timedelta(hours=48)}),
                 now=due)
            if n % 1000 == 999:
                session.commit()
        session.commit()
    engine.dispose()


def deliver(url: str, workers: int, batch: int, port: int) -> dict:
    engine = make_engine(url)
    sender = SmtpSender(host="127.0.0.1", port=port, starttls=False, sender="clinic@example.org",
                        domain="clinic.example.org")
    started = time.time()
    with Session(engine) as session:  # every reminder falls due now, at once
        session.exec(update(PatientMessage).values(next_attempt_at=datetime.fromtimestamp(started, UTC)))
        session.commit()
        due = {f"<patient-message-{ident}@clinic.example.org>": started
               for ident in session.exec(select(PatientMessage.id))}

    def work(name: str) -> None:
        while deliver_due(engine, senders={Channel.EMAIL: sender}, clock=lambda: datetime.now(UTC), worker=name,
                          batch=batch).sent:
            pass

    threads = [threading.Thread(target=work, args=(f"bench-{n}",)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.time() - started
    with Session(engine) as session:
        statuses = [m.status for m in session.exec(select(PatientMessage))]
    engine.dispose()
    return {"due": due, "elapsed": elapsed, "all_sent": all(s == MessageStatus.SENT for s in statuses)}


def run(url: str, count: int, workers: int, batch: int) -> dict:
    arrivals = Arrivals()
    controller = Controller(arrivals, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        due_at = datetime.now(UTC)
        write_reminders(url, count, due_at)
        outcome = deliver(url, workers, batch, controller.port)
    finally:
        controller.stop()
    delays = sorted(arrivals.at[mid][0] - due for mid, due in outcome["due"].items() if mid in arrivals.at)
    return {
        "workers": workers, "batch": batch, "messages": count,
        "received": sum(len(v) for v in arrivals.at.values()),
        "received_twice": sum(1 for v in arrivals.at.values() if len(v) > 1),
        "missing": sum(1 for mid in outcome["due"] if mid not in arrivals.at),
        "all_rows_sent": outcome["all_sent"],
        "seconds": round(outcome["elapsed"], 2),
        "messages_per_second": round(count / outcome["elapsed"], 1),
        "delay_seconds": {"p50": round(percentile(delays, 0.5), 2), "p99": round(percentile(delays, 0.99), 2),
                          "max": round(delays[-1], 2)} if delays else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--postgres-server", default=None, help="e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    runs = []
    for workers in args.workers:
        database = postgres_database(args.postgres_server) if args.postgres_server else sqlite_database()
        with database as url:
            runs.append(run(url, args.messages, workers, args.batch))
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cores": os.cpu_count(),
              "load_average": os.getloadavg(), "backend": "postgresql" if args.postgres_server else "sqlite",
              "runs": runs,
              "ok": all(r["missing"] == 0 and r["received_twice"] == 0 and r["all_rows_sent"] for r in runs)}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(to_json(report, indent=2))
    print(to_json(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
