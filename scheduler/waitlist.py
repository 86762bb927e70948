"""The waitlist: patients waiting for a service, offered a freed slot as soon as one appears.

When a booked appointment is cancelled, the best waiting request that fits
the freed time (same service, within its dates and daily window; highest
priority, then longest waiting) gets a system hold on that start, placed by
the ordinary booking code and audit-logged, and the patient a message
(``waitlist_offer``) whose link accepts it: :func:`accept_offer` books the
hold through the booking code, or says politely that the time is gone. The
front desk may still book an offer on the patient's word. An offer made in
quiet hours is held from the moment the patient can be told.

An offer that ends unbooked (its hold lapsed, or the desk released it) puts
its request back to waiting and the time goes to the next matching patient
(:func:`lapse_offers`, run by the hold sweeper, by the nightly run before it
gathers who waits, and when a patient follows the link of an offer that is
gone). A request is not offered again the very time it let go, so two
patients who do not answer do not pass one time back and forth. The nightly
run places the rest.

A booked offer serves its request for good ("booked"): cancelling or moving
that appointment later does not put the patient back on the waitlist (the
desk adds them again if they want another time). Closing a request releases
its live offer and passes the time on.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, update
from sqlmodel import Session, select

from data.catalog import in_service
from data.config import Settings
from data.enums import AppointmentStatus, MessageKind, WaitlistStatus
from data.errors import Conflict, Invalid, NotFound
from data.tables import Appointment, Location, PatientMessage, Service, User, VisitRequest, WaitlistRequest
from scheduler import booking, outbox, visit_requests
from scheduler.catalog_snapshot import catalog

# Requests carry no zone: a day "has passed" once it has everywhere, a day after it ended in UTC.
PAST = timedelta(days=1)
# What a patient reads when the offer they follow is no longer theirs to take.
NO_LONGER_AVAILABLE = "That time is no longer available; we will tell you when another opens."
NOT_AVAILABLE_NOW = "That time is no longer available."  # their request is closed or served: nothing will follow


def add_request(session: Session, *, actor: User, values: dict, now: datetime) -> WaitlistRequest:
    """A waiting request, for a patient who exists and was not erased (read under a shared lock, so an erasure at the
    same moment either waits and then finds the request still to come, or goes first and the request is refused)."""
    booking.patient_to_serve(session, values["patient_id"], ("patient_id",))
    in_service(session, Service, values["service_id"], ("service_id",))
    if values["latest_day"] < (now - PAST).date():
        raise Invalid(("latest_day",), f"{values['latest_day']} has passed: a patient waits for days still to come")
    request = WaitlistRequest(**values, created_by_id=actor.id, created_at=now)
    session.add(request)
    session.flush()
    return request


def close_past(session: Session, *, now: datetime) -> int:
    """Waiting requests whose last day has passed end (closed): no time can be offered them any more, and left
    waiting they held up the patient's erasure and their service's archiving for good (found by a probe). Run by
    the hold sweeper; a day's grace covers every clinic's zone."""
    return session.exec(update(WaitlistRequest).where(
        WaitlistRequest.status == WaitlistStatus.WAITING, WaitlistRequest.latest_day < (now - PAST).date())
        .values(status=WaitlistStatus.CLOSED)).rowcount


def close_request(session: Session, *, actor: User, request_id: int, now: datetime,
                  settings: Settings) -> WaitlistRequest:
    """The patient no longer waits. A live offer is released with it and its time goes to the next matching
    patient, in the same transaction: the patient cannot accept an offer of a closed request, and no time stays
    held for nobody. A request already booked stays booked (its appointment is cancelled on its own).

    The offered hold is locked before the request, the order in which the patient's acceptance takes them (the
    booking marks the request booked), so the two take turns; an offer made to the request between the first
    look and the locks is a conflict to retry, not a hold left behind.
    """
    peek = session.get(WaitlistRequest, request_id)
    if peek is None:
        raise NotFound("waitlist request", request_id)
    offered_id = peek.appointment_id
    hold = booking.lock_appointment(session, offered_id, "offer") if offered_id is not None else None
    request = session.exec(select(WaitlistRequest).where(WaitlistRequest.id == request_id)
                           .with_for_update().execution_options(populate_existing=True)).one()
    if request.appointment_id != offered_id:
        raise Conflict(f"waitlist request {request_id} was offered a time just now; look at it again before closing")
    if request.status == WaitlistStatus.BOOKED:
        raise Conflict(f"waitlist request {request_id} was booked (appointment {request.appointment_id}); "
                       "cancel that appointment instead")
    offer_ended = request.status == WaitlistStatus.OFFERED  # its hold live, or lapsed or released but not swept
    request.status = WaitlistStatus.CLOSED
    booking.release_expired_holds(session, now=now)  # a lapsed offer ends as lapsed ("hold expired"), not released
    session.flush()
    if offer_ended and hold.status == AppointmentStatus.PENDING:
        booking.change_status(session, actor=actor, appointment_id=hold.id, action="release", now=now,
                              reason="the patient no longer waits")
    if offer_ended:  # the sweeper passes on only offers of requests still offered: the time goes on from here
        offer_freed_slot(session, freed=hold, now=now, settings=settings)
    return request


def cancel(session: Session, *, actor: User, appointment_id: int, reason: str, now: datetime,
           settings: Settings) -> Appointment:
    """Cancel an appointment; if it was booked, withdraw the patient's waiting moves of it and offer its time to
    the waitlist, all in the same transaction (the one cancellation of REST and FHIR alike)."""
    return cancel_and_rebook(session, actor=actor, appointment_id=appointment_id, reason=reason, replacement=None,
                             now=now, settings=settings)[0]


def cancel_and_rebook(session: Session, *, actor: User, appointment_id: int, reason: str,
                      replacement: booking.SlotChoice | None, now: datetime,
                      settings: Settings) -> tuple[Appointment, Appointment | None]:
    """Cancel an appointment and, given a ``replacement``, book the same patient's new one: all or nothing.

    This is Argonaut Scheduling's reschedule (``$book`` with ``cancelled-appt-id``): a new appointment, the old one
    cancelled. The old one is freed first, so the new time may overlap it (the patient's own span no longer
    blocks), and its time is offered to the waitlist only after the new one holds its resources, so an offer
    never takes the time just rebooked. A refused replacement raises and leaves the old appointment as it was.
    """
    cancelled = booking.lock_appointment(session, appointment_id)
    was_booked = cancelled.status == AppointmentStatus.BOOKED
    if replacement is not None and (not was_booked or replacement.patient_id != cancelled.patient_id):
        raise Conflict(f"appointment {appointment_id} is not a booked appointment of patient "
                       f"{replacement.patient_id}; only those are rescheduled")
    with session.begin_nested():  # a refused replacement undoes the cancellation; the caller's transaction goes on
        cancelled = booking.change_status(session, actor=actor, appointment_id=appointment_id, action="cancel",
                                          now=now, reason=reason)
        if was_booked:  # the patient's own waiting moves of it go, and with them the times they hold
            visit_requests.withdraw_moves(session, actor=actor, appointment_id=appointment_id, now=now)
        rebooked = booking.book(session, actor=actor, choice=replacement, now=now,
                                settings=settings) if replacement else None
    if was_booked:
        offer_freed_slot(session, freed=cancelled, now=now, settings=settings)
    return cancelled, rebooked


def reschedule(session: Session, *, actor: User, appointment_id: int, start: datetime, now: datetime,
               settings: Settings, **choice) -> Appointment:
    """Move a booked appointment (``booking.reschedule``) and offer the time it let go to the waitlist, as a
    cancellation's is: the desk's move (REST, FHIR) gave it to nobody (found by a probe)."""
    freed = FreedTime.of(booking.lock_appointment(session, appointment_id))
    moved = booking.reschedule(session, actor=actor, appointment_id=appointment_id, start=start, now=now,
                               settings=settings, **choice)
    if moved.starts_at != freed.starts_at:
        offer_freed_slot(session, freed=freed, now=now, settings=settings)
    return moved


def confirm_request(session: Session, *, actor: User, request_id: int, patient_id: int | None, now: datetime,
                    settings: Settings) -> VisitRequest:
    """Answer a visitor's or patient's request yes (``visit_requests.confirm``); a patient's move offers the time
    it let go to the waitlist, as the desk's own move does: confirming it gave that time to nobody (found by a
    probe). The session is locked first, in the order ``visit_requests`` takes (session, request, hold)."""
    asked = session.get(VisitRequest, request_id)
    moving = asked.moves_appointment_id if asked is not None else None
    freed = FreedTime.of(booking.lock_appointment(session, moving)) if moving is not None else None
    request = visit_requests.confirm(session, actor=actor, request_id=request_id, patient_id=patient_id, now=now,
                                     settings=settings)
    if freed is not None and session.get(Appointment, moving).starts_at != freed.starts_at:
        offer_freed_slot(session, freed=freed, now=now, settings=settings)
    return request


@dataclass(frozen=True)
class FreedTime:
    """A time an appointment let go: its clinic, service and span, and the patient who let it go."""

    location: Location
    service_id: int
    starts_at: datetime
    ends_at: datetime
    patient_id: int

    @classmethod
    def of(cls, appointment: Appointment) -> "FreedTime":
        return cls(appointment.location, appointment.service_id, appointment.starts_at, appointment.ends_at,
                   appointment.patient_id)


def offer_freed_slot(session: Session, *, freed: Appointment | FreedTime, now: datetime,
                     settings: Settings) -> WaitlistRequest | None:
    """Hold the freed start for the best matching waiting request that can really take it, and tell its patient.

    Not to the patient who let it go (cancelling, they were offered the very time back), nor to a request that
    let this time go before. Each candidate is locked in turn, skipped if another writer holds it (a nightly run
    writing its hold, another freed time offering it), so two freed times at once never offer one request twice;
    locking every candidate at once made a second cancellation at the same moment find none and offer its time
    to nobody (found by a probe). The offer is held until the session starts at the latest.
    """
    freed = freed if isinstance(freed, FreedTime) else FreedTime.of(freed)
    location = freed.location
    zone = ZoneInfo(location.time_zone)
    start, end = freed.starts_at.astimezone(zone), freed.ends_at.astimezone(zone)
    until_start = math.floor((freed.starts_at - now).total_seconds() / 60)
    minutes = min(answer_minutes(location, settings.waitlist_hold_minutes, now), until_start)
    if minutes <= 0:
        return None
    let_go_here = exists().where(Appointment.id == WaitlistRequest.appointment_id,
                                 Appointment.starts_at == freed.starts_at, Appointment.service_id == freed.service_id)
    candidates = session.exec(
        select(WaitlistRequest.id)
        .where(WaitlistRequest.status == WaitlistStatus.WAITING, WaitlistRequest.service_id == freed.service_id,
               WaitlistRequest.patient_id != freed.patient_id,
               WaitlistRequest.earliest_day <= start.date(), WaitlistRequest.latest_day >= start.date(),
               WaitlistRequest.earliest_time <= start.time(), WaitlistRequest.latest_time >= end.time(), ~let_go_here)
        .order_by(WaitlistRequest.priority.desc(), WaitlistRequest.created_at, WaitlistRequest.id)
    ).all()
    for request_id in candidates:
        request = session.exec(select(WaitlistRequest).where(WaitlistRequest.id == request_id)
                               .with_for_update(skip_locked=True).execution_options(populate_existing=True)).first()
        if request is None or request.status != WaitlistStatus.WAITING:
            continue
        choice = booking.SlotChoice(freed.service_id, request.patient_id, start)
        try:
            with session.begin_nested():
                hold = booking.place_hold(session, actor=None, choice=choice, minutes=minutes, now=now,
                                          settings=settings)
        except (Conflict, Invalid):
            continue  # this patient cannot take it (busy then, the service archived meanwhile): the next one may
        offered(session, request, hold, now=now)
        return request
    return None


def answer_minutes(location: Location, minutes: int, now: datetime) -> int:
    """How long an offer is held: ``minutes`` counted from when the patient can be told (after quiet hours)."""
    told = outbox.outside_quiet_hours(location, now)
    return minutes + math.ceil((told - now).total_seconds() / 60)


def offered(session: Session, request: WaitlistRequest, hold: Appointment, *, now: datetime) -> None:
    """The request is offered the hold: a live hold is told to the patient with its accept link (a hold the night
    booked at once is told as a booking by the booking code, and serves the request at once)."""
    booked = hold.status != AppointmentStatus.PENDING
    request.status, request.appointment_id = WaitlistStatus.BOOKED if booked else WaitlistStatus.OFFERED, hold.id
    session.flush()
    if not booked:
        outbox.tell(session, outbox.Telling(MessageKind.WAITLIST_OFFER, f"waitlist:{request.id}:offer:{hold.id}",
                                            request.patient_id, hold.location_id, hold.id), now=now)


def lapse_offers(session: Session, *, now: datetime, settings: Settings) -> list[WaitlistRequest]:
    """Offers that ended unbooked (lapsed, or released by the desk): their requests wait again and each time goes to
    the next matching patient. Safe to run from many processes at once: each lapsed offer is handled once."""
    booking.release_expired_holds(session, now=now)
    ended = session.exec(
        select(WaitlistRequest, Appointment).join(Appointment, Appointment.id == WaitlistRequest.appointment_id)
        .where(WaitlistRequest.status == WaitlistStatus.OFFERED, Appointment.status == AppointmentStatus.CANCELLED)
        .order_by(WaitlistRequest.id).with_for_update(of=WaitlistRequest, skip_locked=True)
    ).all()
    for request, _ in ended:
        request.status = WaitlistStatus.WAITING  # its appointment_id still names the time it let go
    session.flush()
    for _, hold in ended:
        offer_freed_slot(session, freed=hold, now=now, settings=settings)
    return [request for request, _ in ended]


# --- the patient's answer, from the offer's link --------------------------------------------------


@dataclass(frozen=True)
class OfferView:
    """An offer as the patient's page shows it: what, when and where (in the location's zone), held until when,
    and whether it is still ``open``, ``booked`` (accepted) or ``gone``."""

    appointment_id: int
    status: str
    service: str
    start: datetime
    end: datetime
    location_id: int
    location: str
    hold_expires_at: datetime | None


def view_offer(session: Session, *, token: str, appointment_id: int, now: datetime) -> OfferView:
    hold = _offer(session, visit_requests.linked_patient(session, token), appointment_id)
    return _viewed(session, hold, now)


def open_offers(session: Session, *, token: str, now: datetime) -> list[OfferView]:
    """The patient's offers still open to accept, soonest first."""
    patient_id = visit_requests.linked_patient(session, token)
    holds = session.exec(
        select(Appointment).join(WaitlistRequest, WaitlistRequest.appointment_id == Appointment.id)
        .where(WaitlistRequest.patient_id == patient_id, WaitlistRequest.status == WaitlistStatus.OFFERED,
               Appointment.status == AppointmentStatus.PENDING, Appointment.hold_expires_at > now)
        .order_by(Appointment.starts_at)).all()
    return [_viewed(session, hold, now) for hold in holds]


def accept_offer(session: Session, *, token: str, appointment_id: int, now: datetime,
                 settings: Settings) -> Appointment | None:
    """Book the offered time for the patient following its link; None when it is gone (it lapsed, or the desk
    released it), in which case the offer is lapsed here and its time goes to the next patient.

    The hold is read locked and fresh, so the patient's answer and the desk's release (or the sweeper) of the
    same hold take turns, and the second sees what the first did. Accepting twice answers with the booking.
    An offer whose time can no longer be booked as held (the clinician took that time off, the service was
    lengthened into the next patient's time, ... while the offer waited) is gone too: its hold is released
    with what changed as the reason, for the desk, and the patient hears only that the time is no longer
    available (not the staff's words of the refusal).
    """
    patient_id = visit_requests.linked_patient(session, token)
    _offer(session, patient_id, appointment_id)
    hold = booking.lock_appointment(session, appointment_id, "offer")
    if hold.status == AppointmentStatus.BOOKED:
        return hold
    if hold.status == AppointmentStatus.PENDING and hold.hold_expires_at > now:
        try:
            return booking.book_hold(session, actor=None, hold_id=hold.id, now=now, settings=settings)
        except Conflict as refused:
            what_changed = str(refused).partition(": ")[2] or str(refused)
            booking.change_status(session, actor=None, appointment_id=hold.id, action="release", now=now,
                                  reason=f"no longer bookable when the patient accepted: {what_changed}"[:300])
    lapse_offers(session, now=now, settings=settings)
    return None


def gone_words(session: Session, appointment_id: int) -> str:
    """What the patient reads when the offer they accept is gone: a promise of the next offer only while their
    request still waits (not once it is closed, or served by a booking since cancelled)."""
    waits = session.exec(select(WaitlistRequest.id).where(WaitlistRequest.appointment_id == appointment_id,
                                                          WaitlistRequest.status == WaitlistStatus.WAITING)).first()
    return NO_LONGER_AVAILABLE if waits is not None else NOT_AVAILABLE_NOW


def _offer(session: Session, patient_id: int, appointment_id: int) -> Appointment:
    """The patient's offer: a system hold that is (or was told as) one of their waitlist offers."""
    hold = session.get(Appointment, appointment_id)
    current = exists().where(WaitlistRequest.appointment_id == appointment_id,
                             WaitlistRequest.patient_id == patient_id)
    told = exists().where(PatientMessage.appointment_id == appointment_id, PatientMessage.patient_id == patient_id,
                          PatientMessage.kind == MessageKind.WAITLIST_OFFER)
    if hold is None or hold.patient_id != patient_id or not session.exec(select(current | told)).one():
        raise NotFound("offer", f"{appointment_id} on this page")
    return hold


def _viewed(session: Session, hold: Appointment, now: datetime) -> OfferView:
    where = catalog(session).locations[hold.location_id]
    live = hold.status == AppointmentStatus.PENDING and hold.hold_expires_at > now
    status = "open" if live else "booked" if hold.status in (
        AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.FULFILLED) else "gone"
    return OfferView(hold.id, status, catalog(session).services[hold.service_id].name,
                     hold.starts_at.astimezone(where.zone), hold.ends_at.astimezone(where.zone), where.id, where.name,
                     hold.hold_expires_at.astimezone(where.zone) if live else None)
