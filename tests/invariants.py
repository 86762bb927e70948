"""The schedule's invariants, read straight from the database after any test that wrote to it.

Independent of the booking code on purpose: plain SQL over ``appointment`` and
``allocation``, so a bug that the booking code shares with its own checks
cannot hide here. "Live" means what docs/design.md means: a held, booked, arrived or
fulfilled appointment occupies its clinician, room, device units and patient;
a hold past its expiry stops counting at once, whether or not a sweep has
cancelled it yet.
"""

from datetime import datetime

from sqlalchemy import Connection, and_, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from data.tables import Allocation, Appointment

OCCUPYING = ("pending", "booked", "arrived", "fulfilled")  # statuses whose appointments hold their resources


def _unexpired(allocation, now: datetime):
    return or_(allocation.hold_expires_at.is_(None), allocation.hold_expires_at > now)


def schedule_violations(db: Connection | Session, *, now: datetime) -> list[str]:
    """Every broken invariant, in words (empty when the schedule is sound)."""
    found: list[str] = []
    first, second = aliased(Allocation), aliased(Allocation)
    overlapping = db.execute(
        select(first.resource_kind, first.resource_id, first.appointment_id, second.appointment_id)
        .join(second, and_(first.resource_kind == second.resource_kind, first.resource_id == second.resource_id,
                           first.id < second.id, first.starts_at < second.ends_at, second.starts_at < first.ends_at))
        .where(first.live, second.live, _unexpired(first, now), _unexpired(second, now))
    ).all()
    found += [f"{kind} {ident} is in appointments {one} and {other} at once" for kind, ident, one, other in overlapping]

    mismatched = db.execute(
        select(Appointment.id, Appointment.status, Allocation.resource_kind, Allocation.live)
        .join(Allocation, Allocation.appointment_id == Appointment.id)
        .where(or_(and_(Allocation.live, Appointment.status.notin_(OCCUPYING)),
                   and_(~Allocation.live, Appointment.status.in_(OCCUPYING))))
    ).all()
    found += [f"appointment {ident} is {status} but its {kind} allocation has live={live}"
              for ident, status, kind, live in mismatched]

    out_of_step = db.execute(
        select(Appointment.id, Appointment.status, Allocation.resource_kind)
        .join(Allocation, Allocation.appointment_id == Appointment.id)
        .where(Appointment.status.in_(OCCUPYING))
        .where(or_(Allocation.starts_at > Appointment.starts_at, Allocation.ends_at < Appointment.ends_at,
                   # IS DISTINCT FROM, spelled so that both databases understand it
                   and_(Allocation.hold_expires_at.is_(None), Appointment.hold_expires_at.is_not(None)),
                   and_(Allocation.hold_expires_at.is_not(None), Appointment.hold_expires_at.is_(None)),
                   Allocation.hold_expires_at != Appointment.hold_expires_at))
    ).all()
    found += [f"appointment {ident} ({status}): its {kind} allocation does not cover its time or hold expiry"
              for ident, status, kind in out_of_step]

    clinicians = func.count(Allocation.id).filter(Allocation.resource_kind == "clinician")
    patients = func.count(Allocation.id).filter(Allocation.resource_kind == "patient")
    own_patient = func.count(Allocation.id).filter(Allocation.resource_kind == "patient",
                                                   Allocation.resource_id == Appointment.patient_id)
    incomplete = db.execute(
        select(Appointment.id, Appointment.status)
        .outerjoin(Allocation, Allocation.appointment_id == Appointment.id)
        .where(Appointment.status.in_(OCCUPYING))
        .group_by(Appointment.id, Appointment.status)
        .having(or_(clinicians != 1, patients != 1, own_patient != 1))
    ).all()
    found += [f"appointment {ident} ({status}) lacks exactly one clinician and its own patient among its allocations"
              for ident, status in incomplete]
    return found
