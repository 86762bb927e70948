"""Sending the outbox: claim due messages, send each, record the outcome; retries with backoff, then gives up.

Any number of workers may run (`clinic worker`, and inside `clinic serve` on
the embedded default). A worker claims a batch by setting a lease on due
pending rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on
SQLite), so two workers never hold the same message. Just before handing a
message to its channel it records ``sending`` (committed), and ``sent`` right
after. A worker that dies leaves:

- claimed rows it had not started: they are still ``pending`` and another
  worker claims them when the lease ends (nothing is lost);
- at most one row per worker in ``sending``: the provider may or may not have
  it. E-mail is sent again with the same Message-ID, which mail systems use to
  drop the copy; a text message cannot be recalled or deduplicated, so it is
  marked ``uncertain`` and shown to the front desk instead of sent twice.

A temporary failure (a 4xx SMTP reply, a connection refused, a provider's
5xx) is retried after 1, 2, 4 ... minutes up to ``message_attempts``; a
permanent one (5xx SMTP reply, an invalid number) is given up at once. Given-up
messages stay visible to the desk with the reason. Bodies and addresses never
reach the logs: only ids, kinds, channels and outcomes do.

A due message whose channel the patient turned off since it was written (the
desk's record, a STOP, the unsubscribe link) is given up when claimed, not
sent (:func:`scheduler.consent.still_wanted`).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, or_
from sqlmodel import Session, select

from data.db import serialized, session_scope
from data.enums import Channel, MessageStatus
from data.tables import PatientMessage
from scheduler import consent, metrics

log = logging.getLogger("clinic.delivery")
LEASE = timedelta(minutes=5)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=2)


class TemporaryFailure(Exception):
    """The channel could not take the message now; try again later."""


class PermanentFailure(Exception):
    """The channel refuses this message for good (a bad address, a number that cannot receive texts)."""


class UncertainOutcome(Exception):
    """The message left but the channel's answer was lost: it may have arrived. Never sent again on its own; the
    desk decides (``uncertain``, like a worker that died mid-send)."""


class Sender(Protocol):
    def send(self, message: PatientMessage) -> str:
        """Hand the message over; return the provider's reference. Raises Temporary/PermanentFailure."""

    def close(self) -> None:
        """Let go of open connections (called after each round)."""


@dataclass(frozen=True)
class Delivered:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0


def deliver_due(engine: Engine, *, senders: dict[Channel, Sender], clock: Callable[[], datetime], worker: str,
                batch: int = 50, attempts: int = 8) -> Delivered:
    """One round: claim up to ``batch`` due messages for the configured channels and send them."""
    claimed = _claim(engine, set(senders), clock(), worker, batch)
    counts = {"sent": 0, "retried": 0, "failed": 0, "uncertain": 0}
    for message_id in claimed:
        outcome = _send_one(engine, message_id, senders, clock, worker, attempts)
        if outcome:
            counts[outcome] += 1
    return Delivered(**counts)


def _claim(engine: Engine, channels: set[Channel], now: datetime, worker: str, batch: int) -> list[int]:
    with session_scope(serialized(engine)) as session:
        _settle_abandoned(session, now)
        due = session.exec(
            select(PatientMessage)
            .where(PatientMessage.status == MessageStatus.PENDING, PatientMessage.channel.in_(channels),
                   PatientMessage.next_attempt_at <= now,
                   or_(PatientMessage.lease_until.is_(None), PatientMessage.lease_until <= now))
            .order_by(PatientMessage.next_attempt_at, PatientMessage.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        due = consent.still_wanted(session, due, now)
        for message in due:
            message.lease_until, message.worker = now + LEASE, worker
        return [message.id for message in due]


def _settle_abandoned(session: Session, now: datetime) -> None:
    """Messages left in ``sending`` by a worker that died: e-mail goes again (same Message-ID), SMS is uncertain."""
    abandoned = session.exec(
        select(PatientMessage)
        .where(PatientMessage.status == MessageStatus.SENDING, PatientMessage.lease_until <= now)
        .with_for_update(skip_locked=True)
    ).all()
    for message in abandoned:
        if message.channel == Channel.EMAIL:
            message.status, message.lease_until = MessageStatus.PENDING, None
        else:
            message.status = MessageStatus.UNCERTAIN
            message.last_error = ("the worker stopped while handing this text to the provider; it may or may not "
                                  "have been sent, so it is not sent again on its own")
        log.warning("message %s abandoned in sending by %s: %s", message.id, message.worker, message.status.value)


def _send_one(engine: Engine, message_id: int, senders: dict[Channel, Sender], clock: Callable[[], datetime],
              worker: str, attempts: int) -> str | None:
    with session_scope(serialized(engine)) as session:
        message = session.exec(select(PatientMessage).where(PatientMessage.id == message_id)
                               .with_for_update().execution_options(populate_existing=True)).one_or_none()
        if message is None or message.status != MessageStatus.PENDING or message.worker != worker:
            return None  # withdrawn (a cancelled session's reminder), or its lease ran out and another has it
        message.status, message.attempts = MessageStatus.SENDING, message.attempts + 1
        message.lease_until = clock() + LEASE
        session.flush()
        session.expunge(message)  # a detached copy to send from, outside any transaction
    outcome, reference, error = "sent", None, ""
    try:
        reference = senders[message.channel].send(message)
    except TemporaryFailure as failure:
        outcome, error = ("failed" if message.attempts >= attempts else "retried"), str(failure)
    except PermanentFailure as failure:
        outcome, error = "failed", str(failure)
    except UncertainOutcome as doubt:
        outcome, error = "uncertain", str(doubt)
    now = clock()
    with session_scope(serialized(engine)) as session:
        stored = session.get(PatientMessage, message_id, populate_existing=True, with_for_update=True)
        if stored is None or stored.status != MessageStatus.SENDING or stored.worker != worker:
            return None  # erased with its patient meanwhile, or settled by another worker
        stored.lease_until = None
        if outcome == "sent":
            stored.status, stored.sent_at, stored.provider_ref = MessageStatus.SENT, now, reference
        elif outcome == "retried":
            stored.status, stored.last_error = MessageStatus.PENDING, error[:500]
            stored.next_attempt_at = now + min(FIRST_RETRY * 2 ** (stored.attempts - 1), LONGEST_RETRY)
        elif outcome == "uncertain":
            stored.status, stored.last_error = MessageStatus.UNCERTAIN, error[:500]
        else:
            stored.status, stored.last_error = MessageStatus.FAILED, error[:500]
    log.info("message %s (%s by %s): %s after %s attempt(s)", message_id, message.kind.value, message.channel.value,
             outcome, message.attempts)
    metrics.DELIVERIES.labels(channel=message.channel.value, outcome=outcome).inc()
    return outcome
