"""Retention: the provisional patient records of declined and lapsed public requests are erased after a while.

A visitor asking on the public pages gets a patient record at once, because
a hold needs a patient. When the front desk declines the request, or it lapses
unanswered, the record belongs to nobody the clinic treats; once
``request_retention_days`` have passed since the decline (or since the request,
for one that lapsed) it is erased by the same pseudonymization as an
administrator's erasure (``scheduler.erasure``), so the request, its cancelled
hold and the audit trail stay, pseudonymous.

A record the clinic took on is never touched: one with a confirmed request,
any request not made from the public form (a patient's move, a match to an
existing patient), an appointment besides its requests' holds (or a hold
booked after all), a treatment plan or a waitlist entry.

A plain function of a session and a clock, so any scheduler can run it
(APScheduler today, a task engine's worker later); two runs at once erase each
record once, since erasure locks the patient row and does nothing the second
time.
"""

from datetime import datetime, timedelta

from sqlalchemy import and_, case, exists
from sqlmodel import Session, func, select

from data.config import Settings
from data.enums import AppointmentStatus, RequestStatus
from data.tables import Appointment, Patient, TreatmentPlan, VisitRequest, WaitlistRequest
from scheduler import erasure

BATCH = 500  # records erased per run at most, so one transaction stays short; the next run goes on


def erase_lapsed_requests(session: Session, *, now: datetime, settings: Settings) -> list[int]:
    """Erase the provisional patients whose public requests were all declined or lapsed long enough ago."""
    erased = []
    for patient_id in _provisional_and_done(session, now - timedelta(days=settings.request_retention_days)):
        if _taken_on(session, patient_id) or erasure.still_to_come(session, patient_id, now):
            continue
        erasure.erase(session, actor=None, patient_id=patient_id, now=now)
        erased.append(patient_id)
    return erased


def _provisional_and_done(session: Session, cutoff: datetime) -> list[int]:
    """Patients not yet erased whose every request is a public one, never confirmed, last decided before cutoff."""
    unconfirmed_public = and_(VisitRequest.new_patient, VisitRequest.status != RequestStatus.CONFIRMED)
    return list(session.exec(
        select(VisitRequest.patient_id).join(Patient, Patient.id == VisitRequest.patient_id)
        .where(Patient.erased_at.is_(None))
        .group_by(VisitRequest.patient_id)
        .having(func.min(case((unconfirmed_public, 1), else_=0)) == 1,
                func.max(func.coalesce(VisitRequest.decided_at, VisitRequest.created_at)) < cutoff)
        .order_by(VisitRequest.patient_id).limit(BATCH)
    ))


def _taken_on(session: Session, patient_id: int) -> bool:
    """Whether the clinic used the record beyond the requests: another appointment or a request's hold that was
    booked after all, a plan, a waitlist entry."""
    holds = select(VisitRequest.hold_id).where(VisitRequest.patient_id == patient_id)
    unbooked = Appointment.status.in_([AppointmentStatus.PENDING, AppointmentStatus.CANCELLED])
    return session.exec(select(
        exists().where(Appointment.patient_id == patient_id, ~(Appointment.id.in_(holds) & unbooked))
        | exists().where(TreatmentPlan.patient_id == patient_id)
        | exists().where(WaitlistRequest.patient_id == patient_id)
    )).one()
