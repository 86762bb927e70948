"""Writing what a patient must be told, in the same transaction as the change (the outbox).

A change calls :func:`tell` before it commits; the message rows (one per
channel the patient has and agrees to) roll back with the change if it fails,
and a delivery worker (:mod:`scheduler.delivery`) sends them after it
commits. ``change_key`` names the change; the database keeps one message per
change and channel, so a job that runs twice (reminders) tells once.

The words come from Jinja templates (``message_templates/<kind>.j2``, or a
location's own in ``CLINIC_MESSAGE_TEMPLATES/<location id>/<kind>.j2``), with
times in the location's zone. Each message carries its own link to the
patient's page (a random secret, stored only as its hash), so a link in an
old message keeps working until the desk revokes the patient's links.
Text messages name no service by default (``CLINIC_SMS_NAMES_SERVICE``): a
phone's lock screen is not private.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from data.config import Settings, get_settings
from data.enums import Channel, MessageKind
from data.tables import Appointment, Location, Patient, PatientMessage, Service
from scheduler import calendar_feed, secret_links

TEMPLATES = Path(__file__).parent / "message_templates"
# Appointment changes (audit actions) the patient hears about, and the kind of message each makes.
TOLD = {"book": MessageKind.BOOKED, "reschedule": MessageKind.RESCHEDULED, "cancel": MessageKind.CANCELLED,
        "nightly_move": MessageKind.NIGHTLY_MOVE}
CALENDAR_KINDS = {MessageKind.BOOKED, MessageKind.RESCHEDULED, MessageKind.NIGHTLY_MOVE, MessageKind.REQUEST_CONFIRMED,
                  MessageKind.CANCELLED}


@dataclass(frozen=True)
class Telling:
    """What one change tells one patient: its kind, the change's key, and the facts the words need."""

    kind: MessageKind
    change_key: str
    patient_id: int
    location_id: int
    appointment_id: int | None = None
    facts: dict = field(default_factory=dict)
    due: datetime | None = None


def settings_of(session: Session) -> Settings:
    """The settings the request or job runs with (put in ``session.info`` where the session is made)."""
    return session.info.get("settings") or get_settings()


def tell(session: Session, telling: Telling, *, now: datetime) -> list[PatientMessage]:
    """Write the change's messages (none for an erased patient or one who turned every channel off)."""
    settings = settings_of(session)
    patient = session.get(Patient, telling.patient_id)
    location = session.get(Location, telling.location_id)
    if patient is None or patient.erased_at is not None:
        return []
    channels = [(Channel.EMAIL, patient.email) for _ in [0] if patient.email and patient.email_messages]
    channels += [(Channel.SMS, patient.phone) for _ in [0] if patient.phone and patient.sms_messages]
    written = []
    for channel, recipient in channels:
        secret = secret_links.new_secret()
        words = _words(session, settings, location, patient, telling, channel, secret)
        message = PatientMessage(
            patient_id=patient.id, appointment_id=telling.appointment_id, location_id=location.id, kind=telling.kind,
            channel=channel, recipient=recipient, change_key=telling.change_key[:120],
            link_hash=secret_links.digest(secret), next_attempt_at=outside_quiet_hours(location, telling.due or now),
            created_at=now, **words)
        if channel == Channel.EMAIL and telling.kind in CALENDAR_KINDS and telling.appointment_id is not None:
            message.calendar = calendar_feed.for_patient(session, appointment_id=telling.appointment_id, now=now).decode()
        try:
            with session.begin_nested():
                session.add(message)
        except IntegrityError:
            continue  # this change was already told on this channel (a job that ran twice)
        written.append(message)
    return written


@contextmanager
def told_by_caller(session: Session) -> Iterator[None]:
    """Appointment changes made inside the block write no messages: the caller tells them as one change.

    Bookings that confirm a treatment plan are told once, as the plan (:mod:`scheduler.plans`); a public
    request's hold booked, or its patient's session moved, is told as the request's confirmation
    (:mod:`scheduler.visit_requests`).
    """
    was = session.info.get("quiet_bookings")
    session.info["quiet_bookings"] = True
    try:
        yield
    finally:
        session.info["quiet_bookings"] = was


def on_appointment_change(session: Session, *, action: str, appointment: Appointment, before: dict | None,
                          at: datetime, change_key: str) -> None:
    """Called for every audited appointment change: the ones a patient must know of become messages (except inside
    :func:`told_by_caller`)."""
    kind = TOLD.get(action)
    if kind is None or session.info.get("quiet_bookings"):
        return
    if action == "cancel" and (before or {}).get("status") == "pending":
        return  # a released hold was never a promise
    facts = {}
    if before and before.get("starts_at") and action in ("reschedule", "nightly_move"):
        facts["before"] = datetime.fromisoformat(before["starts_at"])
    tell(session, Telling(kind, change_key, appointment.patient_id, appointment.location_id, appointment.id, facts),
         now=at)


def outside_quiet_hours(location: Location, moment: datetime) -> datetime:
    """The moment, or the end of the location's quiet hours if it falls inside them (e.g. 21:00 to 08:00)."""
    if location.quiet_from is None or location.quiet_until is None or location.quiet_from == location.quiet_until:
        return moment
    zone = ZoneInfo(location.time_zone)
    local = moment.astimezone(zone)
    clock = local.time()
    start, end = location.quiet_from, location.quiet_until
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return moment
    day = local.date() + timedelta(days=1) if start > end and clock >= start else local.date()
    return datetime.combine(day, end, zone)


def _words(session: Session, settings: Settings, location: Location, patient: Patient, telling: Telling,
           channel: Channel, secret: str) -> dict:
    zone = ZoneInfo(location.time_zone)
    base = settings.public_base_url
    link = f"{base}/me/{secret}"
    values = {
        "given_name": patient.given_name, "clinic": location.name, "address": location.address,
        "zone": f"{location.time_zone.replace('_', ' ')} time", "link": link,
        "unsubscribe": f"{link}/stop?channel={channel.value}", "accept": f"{link}?accept={telling.appointment_id}",
        "where": "", "service": "", "when": "", "before": "", "hold_until": "", "reason": "", "sessions": [],
    }
    appointment = session.get(Appointment, telling.appointment_id) if telling.appointment_id is not None else None
    if appointment is not None:
        values.update(when=_shown(appointment.starts_at, zone), where=location.name,
                      service=session.get(Service, appointment.service_id).name)
        if appointment.hold_expires_at is not None:
            values["hold_until"] = _shown(appointment.hold_expires_at, zone)
    values.update({key: _shown(value, zone) for key, value in telling.facts.items()})
    if channel == Channel.SMS and not settings.sms_names_service:
        values["service"] = "visit"
    name = _template_name(settings, location, telling.kind)
    text = _templates(settings.message_templates).get_template(name)
    if channel == Channel.SMS:
        return {"subject": "", "body_text": text.render(values, part="sms").strip()[:640], "body_html": None}
    html = _templates(settings.message_templates, html=True).get_template(name)
    return {"subject": text.render(values, part="subject").strip()[:200],
            "body_text": text.render(values, part="text").strip(),
            "body_html": html.render(values, part="html").strip()}


def spoken(moment: datetime, zone: ZoneInfo) -> str:
    """An instant as a person reads it in the location's zone: 'Tuesday, December 1 at 9:15 AM'; in the hour the
    clocks repeat in autumn, with the zone's abbreviation ('1:30 AM EDT', then '1:30 AM EST'), or the two would read
    alike.

    Public so that words written beside a message (a plan's list of sessions, a run record) say it the same way.
    """
    local = moment.astimezone(zone)
    repeated = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
    return f"{local:%A, %B} {local.day} at {local.hour % 12 or 12}:{local:%M %p}" + (f" {local:%Z}" if repeated else "")


def _shown(value, zone: ZoneInfo):
    """Facts as the templates get them: instants spoken in the location's zone (a list, item by item)."""
    if isinstance(value, datetime):
        return spoken(value, zone)
    if isinstance(value, list):
        return [_shown(item, zone) for item in value]
    return value


def _template_name(settings: Settings, location: Location, kind: MessageKind) -> str:
    own = f"{location.id}/{kind.value}.j2"
    if settings.message_templates and (Path(settings.message_templates) / own).is_file():
        return own
    return f"{kind.value}.j2"


@cache
def _templates(folder: str | None, html: bool = False) -> Environment:
    loaders = [FileSystemLoader(folder)] if folder else []
    return Environment(loader=ChoiceLoader([*loaders, FileSystemLoader(TEMPLATES)]), autoescape=html,
                       undefined=StrictUndefined, keep_trailing_newline=False)

