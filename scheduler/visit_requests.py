"""Requests from the public pages: a visitor asks for a telehealth or in-office time, a patient asks to move one.

The visitor picks a real free slot; the request holds it (a system hold with a
long time to live, ``request_hold_hours``) so nobody else can take it, and the
front desk stays in control: it confirms (the hold becomes the booking, or the
patient's session moves into it) or declines. An expired request frees its
slot at once, since availability ignores lapsed holds.

A new visitor gets a patient record at once, because a hold needs a patient
(the patient's own double-booking is checked like anyone's); the front desk
either keeps it or matches it to an existing patient on confirming, and the
provisional record is then removed. Links handed out (the status page, a
patient's own page) carry random secrets stored only as hashes (``secret_links``). Limits per
client address and per contact, counted in the database so every process
sees them, keep the public form from being used to block the calendar.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, func, select

from data.config import Settings
from data.enums import AppointmentStatus, MessageKind, RequestKind, RequestStatus, ResourceKind
from data.errors import Conflict, Gone, Invalid, NotFound, RateLimited
from data.tables import Appointment, Location, Patient, PatientLink, PatientMessage, Service, User, VisitRequest
from data.locking import locked, serialize_on
from scheduler import booking, outbox, plan_calendar, secret_links
from scheduler.availability import SlotQuery, find_availability
from scheduler.catalog_snapshot import catalog
from scheduler.rosters import plan_progress
from scheduler.secret_links import digest, holder, new_secret

PUBLIC_SERVICES = {RequestKind.TELEHEALTH: "public_telehealth_service", RequestKind.IN_OFFICE: "public_office_service"}
DAY = timedelta(days=1)
# What visitors read is a sentence for them: why a request was refused, never which clinician or room was busy.
REACH_YOU = "Please give a phone number or an e-mail address so the clinic can reach you."


@dataclass(frozen=True)
class PublicSlot:
    """A free time as the public sees it: when and where, nothing about who else is booked."""

    start: datetime
    end: datetime
    location_id: int
    location_name: str


@dataclass(frozen=True)
class Visitor:
    given_name: str
    family_name: str
    birth_date: date
    phone: str | None
    email: str | None

    @property
    def contact(self) -> str:
        return (self.email or "").strip().lower() or "".join(ch for ch in self.phone or "" if ch.isdigit())


def public_service(session: Session, kind: RequestKind, settings: Settings) -> Service:
    if kind not in PUBLIC_SERVICES:
        raise Invalid(("kind",), f"ask for one of: {', '.join(PUBLIC_SERVICES)}")
    code = getattr(settings, PUBLIC_SERVICES[kind])
    service = session.exec(select(Service).where(Service.code == code, Service.archived_at.is_(None))).first()
    if service is None:
        raise NotFound("service for public requests", code)
    return service


def public_slots(session: Session, *, service: Service, now: datetime, settings: Settings,
                 patient_id: int | None = None, location_id: int | None = None,
                 between: tuple[datetime, datetime] | None = None) -> list[PublicSlot]:
    """Every free start of the service over the public horizon (or ``between``), one per place and time.

    The availability search answers one offer per clinician and start, best first, cut at a limit; the public
    sees one per place and time. Asked a day at a time, with a limit above the offers any day can hold (a start
    per grid step for each clinician), nothing is cut off before the duplicates go.
    """
    start, end = between or (now, now + timedelta(days=settings.public_days))
    locations = catalog(session).locations
    searched = [locations[location_id]] if location_id in locations else locations.values()
    starts_a_day = 24 * 60 // settings.slot_grid_minutes + 1
    limit = starts_a_day * max(1, sum(len(location.clinicians) for location in searched))
    slots: dict[tuple[int, datetime], PublicSlot] = {}
    for day_start in _days(start, end):
        query = SlotQuery(service_id=service.id, start=day_start, end=min(day_start + DAY, end),
                          location_id=location_id, patient_id=patient_id, limit=limit)
        for offer in find_availability(session, query, now=now, settings=settings).offers:
            slots.setdefault((offer.location_id, offer.start), PublicSlot(
                offer.start, offer.end, offer.location_id, locations[offer.location_id].name))
    return sorted(slots.values(), key=lambda slot: (slot.start, slot.location_name))


def _days(start: datetime, end: datetime) -> list[datetime]:
    """The starts of consecutive 24-hour stretches covering [start, end)."""
    count = -(-(end - start) // DAY)
    return [start + n * DAY for n in range(count)]


def _check_limits(session: Session, *, client_key: str, contact_key: str, now: datetime, settings: Settings) -> None:
    """Refuse a request beyond the per-address and per-contact limits, saying when to try again.

    Counting then inserting is a race between two requests, so public requests take turns (``serialize_on``).
    """
    serialize_on(session, "public-requests")

    def count_since(column, key: str, since: datetime) -> tuple[int, datetime | None]:
        return session.exec(select(func.count(), func.min(VisitRequest.created_at))
                            .where(column == key, VisitRequest.created_at > since)).one()

    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(days=1)
    sent, oldest = count_since(VisitRequest.client_key, client_key, hour_ago)
    if sent >= settings.requests_per_address_hour:
        raise RateLimited("Too many requests from this network in the last hour; please try again later or call "
                          "the clinic.", _seconds_until(oldest + timedelta(hours=1), now))
    sent, oldest = count_since(VisitRequest.contact_key, contact_key, day_ago)
    if sent >= settings.requests_per_contact_day:
        raise RateLimited("Too many requests for this phone or e-mail today; the clinic will be in touch.",
                          _seconds_until(oldest + timedelta(days=1), now))
    open_ones = _open_requests(session, now).where(VisitRequest.contact_key == contact_key)
    if (count := session.exec(open_ones).one()) >= settings.open_requests_per_contact:
        raise RateLimited(f"This phone or e-mail already has {count} requests waiting for the clinic's answer.", 3600)
    open_ones = _open_requests(session, now).where(VisitRequest.client_key == client_key)
    if (count := session.exec(open_ones).one()) >= settings.open_requests_per_address:
        raise RateLimited(f"This network already has {count} requests waiting for the clinic's answer.", 3600)


def _open_requests(session: Session, now: datetime):
    """How many requests still wait for an answer with a live hold (a count query to narrow down)."""
    return (select(func.count()).select_from(VisitRequest).join(Appointment, Appointment.id == VisitRequest.hold_id)
            .where(VisitRequest.status == RequestStatus.REQUESTED, Appointment.status == AppointmentStatus.PENDING,
                   Appointment.hold_expires_at > now))


def _check_day_share(session: Session, *, service: Service, location_id: int, start: datetime, now: datetime,
                     settings: Settings) -> None:
    """Undecided requests may hold only ``public_hold_share`` of a day's public times, so visitors always find some.

    The day's public times are those still free plus those undecided requests hold; counted per location
    and local day, as the visitor sees them (one per start time).
    """
    location = catalog(session).locations.get(location_id)
    if location is None:
        raise Invalid(("location_id",), f"location {location_id} does not exist")
    day = start.astimezone(location.zone).date()
    day_start = datetime.combine(day, time(0), tzinfo=location.zone)
    day_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=location.zone)
    free = public_slots(session, service=service, now=now, settings=settings, location_id=location_id,
                        between=(max(day_start, now), day_end))
    held = session.exec(_open_requests(session, now).where(
        Appointment.location_id == location_id, Appointment.service_id == service.id,
        Appointment.starts_at >= day_start, Appointment.starts_at < day_end)).one()
    if held >= max(1, int(settings.public_hold_share * (len(free) + held))):
        raise Conflict("That day's times are in high demand; please choose another day or call the clinic.")


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(int((moment - now).total_seconds()) + 1, 1)


def request_visit(session: Session, *, kind: RequestKind, location_id: int, start: datetime, visitor: Visitor,
                  reason: str, client_key: str, now: datetime, settings: Settings) -> tuple[VisitRequest, str]:
    """Hold the chosen slot for a new visitor; the request and the secret of its status link."""
    if not visitor.contact:
        raise Invalid(("phone",), REACH_YOU)
    contact_key = digest(f"contact:{visitor.contact}")
    _check_limits(session, client_key=client_key, contact_key=contact_key, now=now, settings=settings)
    service = public_service(session, kind, settings)
    _check_day_share(session, service=service, location_id=location_id, start=start, now=now, settings=settings)
    with session.begin_nested():  # a slot refused leaves no provisional patient behind, whoever commits later
        patient = Patient(given_name=visitor.given_name, family_name=visitor.family_name,
                          birth_date=visitor.birth_date, phone=visitor.phone, email=visitor.email)
        session.add(patient)
        session.flush()
        hold = _hold(session, service, patient.id, start, location_id, now=now, settings=settings)
    return _record(session, kind=kind, hold=hold, patient_id=patient.id, new_patient=True, reason=reason,
                   contact_key=contact_key, client_key=client_key, now=now, settings=settings)


def _hold(session: Session, service: Service, patient_id: int, start: datetime, location_id: int, *, now: datetime,
          settings: Settings) -> Appointment:
    """The requested time, held for the desk's answer: ``request_hold_hours``, or until the session would start if
    that comes first (a hold past its start kept nothing for anyone, and the visitor was told it held until then)."""
    until_start = int((start - now).total_seconds() // 60)
    try:
        return booking.place_hold(session, actor=None, now=now, settings=settings,
                                  minutes=max(1, min(settings.request_hold_hours * 60, until_start)),
                                  choice=booking.SlotChoice(service.id, patient_id, start, location_id=location_id))
    except Conflict:
        raise Conflict("That time is no longer free; please choose another.") from None


def _record(session: Session, *, kind: RequestKind, hold: Appointment, patient_id: int, new_patient: bool,
            reason: str, contact_key: str, client_key: str, now: datetime, settings: Settings,
            moves: int | None = None) -> tuple[VisitRequest, str]:
    """The request, and the message telling the visitor it arrived, with its status link: the page's address is no
    longer the only way back to it."""
    token = new_secret()
    request = VisitRequest(kind=kind, secret_hash=digest(token), hold_id=hold.id, moves_appointment_id=moves,
                           patient_id=patient_id, new_patient=new_patient, reason=reason, contact_key=contact_key,
                           client_key=client_key, created_at=now)
    session.add(request)
    session.flush()
    _tell(session, request, MessageKind.REQUEST_RECEIVED, hold.id, now,
          link=f"{settings.public_base_url}/request/{token}")
    return request, token


def _tell(session: Session, request: VisitRequest, kind: MessageKind, appointment_id: int, now: datetime,
          **facts) -> None:
    """Tell the request's patient (the visitor's contact details are on its provisional record) of its news."""
    change_key = f"request:{request.id}:{kind.value.removeprefix('request_')}"  # e.g. request:44:received
    location_id = session.get(Appointment, appointment_id).location_id
    outbox.tell(session, outbox.Telling(kind, change_key, request.patient_id, location_id, appointment_id, facts),
                now=now)


# --- what the visitor sees --------------------------------------------------------------------


@dataclass(frozen=True)
class RequestView:
    """What the status page shows, its times with the location's offset (shown in its zone, whatever the device's)."""

    kind: RequestKind
    status: RequestStatus
    service: str
    start: datetime
    end: datetime
    location_id: int
    location: str
    decline_reason: str
    hold_expires_at: datetime | None


def effective_status(request: VisitRequest, hold: Appointment, now: datetime) -> RequestStatus:
    """A request still waiting whose hold has lapsed is expired, whether or not the sweeper has run."""
    if request.status == RequestStatus.REQUESTED and (
            hold.status != AppointmentStatus.PENDING or hold.hold_expires_at <= now):
        return RequestStatus.EXPIRED
    return request.status


def view(session: Session, *, token: str, now: datetime) -> RequestView:
    request = holder(session, VisitRequest, token)
    if request is None:
        raise NotFound("request", "behind this link (check that the whole link was copied)")
    hold = session.get(Appointment, request.hold_id)
    shown = session.get(Appointment, request.moves_appointment_id) if (
        request.kind == RequestKind.MOVE and request.status == RequestStatus.CONFIRMED) else hold
    location = catalog(session).locations[shown.location_id]
    status = effective_status(request, hold, now)
    return RequestView(request.kind, status, catalog(session).services[shown.service_id].name,
                       shown.starts_at.astimezone(location.zone), shown.ends_at.astimezone(location.zone),
                       location.id, location.name, request.decline_reason,
                       hold.hold_expires_at.astimezone(location.zone) if status == RequestStatus.REQUESTED else None)


def public_locations(session: Session) -> list[Location]:
    """The clinic's locations as its public pages need them: names, time zones and locales."""
    return list(session.exec(select(Location).order_by(Location.name)))


# --- the front desk ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """A request as the front desk answers it: its hold, its patient, who else the visitor may be, and for a move
    the session that would move."""

    request: VisitRequest
    hold: Appointment
    patient: Patient
    possible_matches: list[Patient]
    moving: Appointment | None


def waiting(session: Session, *, now: datetime) -> list[Waiting]:
    """Requests waiting for an answer, oldest first."""
    rows = session.exec(
        select(VisitRequest, Appointment, Patient).join(Appointment, Appointment.id == VisitRequest.hold_id)
        .join(Patient, Patient.id == VisitRequest.patient_id)
        .where(VisitRequest.status == RequestStatus.REQUESTED, Appointment.status == AppointmentStatus.PENDING,
               Appointment.hold_expires_at > now)
        .order_by(VisitRequest.created_at, VisitRequest.id)
    ).all()
    return [answered(session, request, hold=hold, patient=patient) for request, hold, patient in rows]


def answered(session: Session, request: VisitRequest, *, hold: Appointment | None = None,
             patient: Patient | None = None) -> Waiting:
    """The request with what the desk reads beside it (possible matches only while it may still be matched)."""
    hold = hold or session.get(Appointment, request.hold_id)
    patient = patient or session.get(Patient, request.patient_id)
    undecided = request.status == RequestStatus.REQUESTED and request.new_patient
    moving = session.get(Appointment, request.moves_appointment_id) if request.moves_appointment_id else None
    return Waiting(request, hold, patient, _matches(session, patient) if undecided else [], moving)


def _matches(session: Session, patient: Patient) -> list[Patient]:
    """Existing patients who may be this visitor: same birth date and family name, or same phone or e-mail."""
    same_person = (Patient.birth_date == patient.birth_date) & (func.lower(Patient.family_name)
                                                               == patient.family_name.lower())
    same_contact = [Patient.email == patient.email] if patient.email else []
    same_contact += [Patient.phone == patient.phone] if patient.phone else []
    clauses = same_person
    for clause in same_contact:
        clauses = clauses | clause
    return list(session.exec(select(Patient).where(clauses, Patient.id != patient.id).order_by(Patient.id).limit(5)))


def _open(session: Session, request_id: int, now: datetime) -> tuple[VisitRequest, Appointment]:
    """The request and its hold, both locked and read fresh: two answers to one request cannot both win.

    A move request's session is locked first, in the order a cancellation of that session takes
    (session, request, hold), so the two wait for each other instead of deadlocking.
    """
    peek = session.get(VisitRequest, request_id)
    if peek is None:
        raise NotFound("request", request_id)
    if peek.moves_appointment_id is not None:
        booking.lock_appointment(session, peek.moves_appointment_id, "session")
    request = locked(session, VisitRequest, request_id)
    hold = booking.lock_appointment(session, request.hold_id, "hold")
    status = effective_status(request, hold, now)
    if status == RequestStatus.EXPIRED:
        raise Gone(f"request {request_id} expired and its slot was freed; offer the patient another time")
    if status != RequestStatus.REQUESTED:
        raise Conflict(f"request {request_id} was already {status.value}")
    return request, hold


def confirm(session: Session, *, actor: User, request_id: int, patient_id: int | None, now: datetime,
            settings: Settings) -> VisitRequest:
    """Book the request: a new visit becomes a booking (for the matched patient if one is named); a move moves."""
    request, hold = _open(session, request_id, now)
    if request.kind == RequestKind.MOVE:
        if patient_id not in (None, request.patient_id):
            raise Invalid(("patient_id",), "a move request belongs to its patient; leave patient_id out")
        with outbox.told_by_caller(session):
            _move(session, actor=actor, request=request, hold=hold, now=now, settings=settings)
    else:
        if patient_id is not None and patient_id != request.patient_id:
            _match(session, actor=actor, request=request, hold=hold, patient_id=patient_id, now=now)
        with outbox.told_by_caller(session):
            booking.book_hold(session, actor=actor, hold_id=hold.id, now=now, settings=settings,
                              for_request=request.id)
    request.status, request.decided_at = RequestStatus.CONFIRMED, now
    session.flush()
    _tell(session, request, MessageKind.REQUEST_CONFIRMED, request.moves_appointment_id or hold.id, now)
    return request


def _match(session: Session, *, actor: User, request: VisitRequest, hold: Appointment, patient_id: int,
           now: datetime) -> None:
    """The visitor is an existing patient: the hold moves to that record (if they are free then) and the
    provisional one goes."""
    booking.patient_to_serve(session, patient_id, ("patient_id",))
    if not request.new_patient:
        raise Invalid(("patient_id",), "this request's patient was already matched")
    provisional = session.get(Patient, request.patient_id)
    booking.reassign_patient(session, actor=actor, hold=hold, patient_id=patient_id, now=now)
    request.patient_id, request.new_patient = patient_id, False
    session.flush()
    session.delete(provisional)
    session.flush()


def _move(session: Session, *, actor: User, request: VisitRequest, hold: Appointment, now: datetime,
          settings: Settings) -> None:
    """The patient's session takes the held slot's time and resources, in the same transaction that frees it."""
    start, location = hold.starts_at, hold.location_id
    clinician = hold.resource_ids(ResourceKind.CLINICIAN)[0]
    room = next(iter(hold.resource_ids(ResourceKind.ROOM)), None)
    devices = tuple(hold.resource_ids(ResourceKind.DEVICE))
    booking.change_status(session, actor=actor, appointment_id=hold.id, action="cancel", now=now,
                          reason=f"request {request.id} confirmed: the session moved here", for_request=request.id)
    zone = catalog(session).locations[location].zone
    booking.reschedule(session, actor=actor, appointment_id=request.moves_appointment_id, start=start.astimezone(zone),
                       now=now, settings=settings, clinician_id=clinician, room_id=room, device_ids=devices)


def decline(session: Session, *, actor: User, request_id: int, reason: str, now: datetime) -> VisitRequest:
    request, hold = _open(session, request_id, now)
    booking.change_status(session, actor=actor, appointment_id=hold.id, action="cancel", now=now,
                          reason=f"request {request.id} declined: {reason}"[:300], for_request=request.id)
    request.status, request.decided_at, request.decline_reason = RequestStatus.DECLINED, now, reason
    session.flush()
    _tell(session, request, MessageKind.REQUEST_DECLINED, hold.id, now, reason=reason)
    return request


def withdraw_moves(session: Session, *, actor: User, appointment_id: int, now: datetime) -> None:
    """A cancelled session moves nowhere: its waiting move requests are declined and their held times freed.

    The caller holds the session's lock, taken before any request's (the order ``_open`` keeps).
    """
    waiting = session.exec(select(VisitRequest.id).where(VisitRequest.moves_appointment_id == appointment_id,
                                                          VisitRequest.status == RequestStatus.REQUESTED)).all()
    for request_id in waiting:
        request = locked(session, VisitRequest, request_id)
        hold = booking.lock_appointment(session, request.hold_id, "hold")
        if hold.status == AppointmentStatus.PENDING:
            booking.change_status(session, actor=actor, appointment_id=hold.id, action="cancel", now=now,
                                  reason=f"request {request.id} withdrawn: the session was cancelled",
                                  for_request=request.id)
        request.status, request.decided_at = RequestStatus.DECLINED, now
        request.decline_reason = "the session was cancelled"
    session.flush()


# --- a patient's own page ----------------------------------------------------------------------


def issue_link(session: Session, *, patient_id: int, now: datetime) -> str:
    """A new secret for the patient's page; the previous link stops working. Not for an erased patient (read under
    the lock erasure takes): erasure revokes the link, and one issued during or after it showed a page again."""
    patient = locked(session, Patient, patient_id)
    if patient is None:
        raise NotFound("patient", patient_id)
    if patient.erased_at is not None:
        raise Conflict(f"patient {patient_id} was erased; register the person again")
    return secret_links.issue(session, PatientLink, "patient_id", patient_id, created_at=now)


def revoke_link(session: Session, *, patient_id: int) -> bool:
    """Revoke the patient's page link and the links in every message sent to them (a link may have leaked);
    whether there was any link to revoke."""
    in_messages = session.exec(select(PatientMessage).where(PatientMessage.patient_id == patient_id,
                                                            PatientMessage.link_hash.is_not(None))).all()
    for message in in_messages:
        message.link_hash = None
    return secret_links.revoke(session, PatientLink, "patient_id", patient_id) or bool(in_messages)


def linked_patient(session: Session, token: str) -> int:
    """The patient behind a page link: the one the desk issued, or the one in a message sent to them."""
    link = holder(session, PatientLink, token)
    if link is not None:
        return link.patient_id
    message = session.exec(select(PatientMessage).where(PatientMessage.link_hash == secret_links.digest(token))).first()
    if message is None:
        raise NotFound("patient page", "behind this link (it may have been replaced or revoked)")
    return message.patient_id


@dataclass(frozen=True)
class UpcomingSession:
    appointment_id: int
    service_id: int
    service: str
    start: datetime
    end: datetime
    location_id: int
    location: str
    plan_progress: str | None
    move_requested: bool
    confirmed_at: datetime | None
    cancel_until: datetime


def cancel_until(starts_at: datetime, settings: Settings) -> datetime:
    """The last moment a patient may cancel a session from their page (``scheduler.patient_page``)."""
    return starts_at - timedelta(hours=settings.patient_cancel_hours)


def upcoming(session: Session, *, token: str, now: datetime, settings: Settings) -> list[UpcomingSession]:
    patient_id = linked_patient(session, token)
    appointments = session.exec(
        select(Appointment).where(Appointment.patient_id == patient_id, Appointment.status == AppointmentStatus.BOOKED,
                                  Appointment.starts_at > now).order_by(Appointment.starts_at)
    ).all()
    snapshot = catalog(session)
    progress = plan_progress(session, snapshot, [a.id for a in appointments])
    moving = set(session.exec(
        select(VisitRequest.moves_appointment_id).join(Appointment, Appointment.id == VisitRequest.hold_id)
        .where(VisitRequest.patient_id == patient_id, VisitRequest.status == RequestStatus.REQUESTED,
               Appointment.status == AppointmentStatus.PENDING, Appointment.hold_expires_at > now)))
    return [UpcomingSession(a.id, a.service_id, snapshot.services[a.service_id].name,
                            a.starts_at.astimezone(snapshot.locations[a.location_id].zone),
                            a.ends_at.astimezone(snapshot.locations[a.location_id].zone),
                            a.location_id, snapshot.locations[a.location_id].name, progress.get(a.id), a.id in moving,
                            a.patient_confirmed_at and a.patient_confirmed_at.astimezone(
                                snapshot.locations[a.location_id].zone),
                            cancel_until(a.starts_at, settings).astimezone(snapshot.locations[a.location_id].zone))
            for a in appointments]


def _own_booked(session: Session, patient_id: int, appointment_id: int, now: datetime) -> Appointment:
    """The patient's upcoming booked session, locked and fresh (a cancellation of it waits, or goes first)."""
    appointment = locked(session, Appointment, appointment_id)
    if appointment is None or appointment.patient_id != patient_id:
        raise NotFound("session", f"{appointment_id} on this page")
    if appointment.status != AppointmentStatus.BOOKED or appointment.starts_at <= now:
        raise Conflict("Only upcoming booked sessions can be moved.")
    return appointment


def move_slots(session: Session, *, token: str, appointment_id: int, now: datetime,
               settings: Settings) -> list[PublicSlot]:
    """The times the patient may ask to move a session to: the same service at the same clinic, free, not clashing
    with their others, and within the rules of its treatment plan, if it is a plan's. Another clinic, or a time
    outside the plan, is the desk's to arrange (its address, its staff, the patient's way there, the course)."""
    patient_id = linked_patient(session, token)
    appointment = _own_booked(session, patient_id, appointment_id, now)
    breaks_plan = plan_calendar.move_rules(session, appointment)
    return [slot for slot in public_slots(session, service=session.get(Service, appointment.service_id), now=now,
                                          settings=settings, patient_id=patient_id,
                                          location_id=appointment.location_id)
            if not breaks_plan(slot.start, slot.location_id)]


def request_move(session: Session, *, token: str, appointment_id: int, location_id: int, start: datetime,
                 client_key: str, now: datetime, settings: Settings) -> tuple[VisitRequest, str]:
    """Hold the new time for the patient's session, pending the front desk's confirmation."""
    patient_id = linked_patient(session, token)
    appointment = _own_booked(session, patient_id, appointment_id, now)
    if location_id != appointment.location_id:
        raise Invalid(("location_id",), "a session moves to another time at the same clinic; to change the clinic, "
                                        "please call us")
    if plan_calendar.move_rules(session, appointment)(start, location_id):
        raise Invalid(("start",), "that time does not fit your course of treatment (its dates, your times or the "
                                  "days between sessions); please choose one of the times offered, or call us")
    contact_key = digest(f"patient:{patient_id}")
    _check_limits(session, client_key=client_key, contact_key=contact_key, now=now, settings=settings)
    if session.exec(_open_requests(session, now).where(VisitRequest.moves_appointment_id == appointment.id)).one():
        raise Conflict("A move of this session is already waiting for the clinic's answer.")
    hold = _hold(session, session.get(Service, appointment.service_id), patient_id, start, location_id, now=now,
                 settings=settings)
    return _record(session, kind=RequestKind.MOVE, hold=hold, patient_id=patient_id, new_patient=False, reason="",
                   contact_key=contact_key, client_key=client_key, now=now, settings=settings, moves=appointment.id)
