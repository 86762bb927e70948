"""Clinicians' calendar feeds: an .ics per clinician at a URL carrying a revocable secret.

Phones and desktop calendars subscribe to the URL and poll it, so the URL is
the only credential: the secret is random (``secrets``), stored only as its
SHA-256, replaced when a new one is issued and gone when revoked. Events have
stable UIDs (one per appointment), so a moved or reassigned session updates the
event instead of adding one, and a cancelled one stays as STATUS:CANCELLED so
subscribers remove it.

Time zones are written by :mod:`scheduler.vtimezone`, not by icalendar's own
generator, which puts a spring-forward an hour late.

SEQUENCE is the appointment's row version (``version``, +1 on every update of
the row), so two changes within one second still count as two; an .ics
attached to a patient's message carries the same UID and SEQUENCE, so a later
one updates the event in the patient's calendar. Builds before the row version
published the update time in epoch seconds (about 1.8e9) instead. That
numbering is deliberately not continued (no offset): the product is not yet in
production, so no patient or clinician holds such events, and an offset of
1.8e9 would stay in every event for good. A calendar subscribed to a test or
demo install of such a build sees SEQUENCE go down: subscribe it again.

A feed has no METHOD, so each event's DTSTAMP is when it was last revised
(RFC 5545 3.8.7.2), not the time of the request: the same sessions give the
same bytes, which is what makes the route's ETag and 304 useful.

Feeds leave the clinic's systems (calendar providers sync them), so events
carry the patient's initials only (none once the patient is erased); the
roster page has the full name.
"""

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vText
from sqlmodel import Session

from data.enums import AppointmentStatus, ResourceKind
from data.errors import NotFound
from data.tables import Appointment, CalendarFeed, Clinician
from scheduler import secret_links
from scheduler.rosters import RosterEntry, clinician_roster
from scheduler.vtimezone import add_timezones

PAST, AHEAD = timedelta(days=30), timedelta(days=90)
PRODUCT = "-//Clinic Scheduler//Clinician roster//EN"


def issue(session: Session, *, clinician_id: int, now: datetime) -> str:
    """A new secret for the clinician's feed; the previous URL stops working."""
    if session.get(Clinician, clinician_id) is None:
        raise NotFound("clinician", clinician_id)
    return secret_links.issue(session, CalendarFeed, "clinician_id", clinician_id, created_at=now)


def revoke(session: Session, *, clinician_id: int) -> bool:
    """Whether there was a feed to revoke."""
    return secret_links.revoke(session, CalendarFeed, "clinician_id", clinician_id)


def render(session: Session, *, secret: str, now: datetime) -> bytes:
    """The feed behind a secret, from a month back to three months ahead."""
    feed = secret_links.holder(session, CalendarFeed, secret)
    if feed is None:
        raise NotFound("calendar feed", "behind this link (it may have been revoked)")
    clinician = session.get(Clinician, feed.clinician_id)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", vText(f"{clinician.name}: clinic sessions"))  # vText: escaped like SUMMARY
    for entry in clinician_roster(session, clinician.id, now - PAST, now + AHEAD, include_cancelled=True,
                                  longest=PAST + AHEAD):
        calendar.add_component(_event(entry, stamp=entry.updated_at))
    add_timezones(calendar)
    return calendar.to_ical()


def _unambiguous(moment: datetime) -> datetime:
    """Local time with the zone's TZID, except in the hour a fall-back night repeats: RFC 5545 reads such a
    local time as its first occurrence, so a session in the second one is given in UTC instead."""
    if moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset():
        return moment.astimezone(UTC)
    return moment


def _initials(entry: RosterEntry) -> str:
    """The patient's initials after a colon (': A.W.'); none for an erased patient, whose pseudonym has none."""
    if entry.patient_erased:
        return ""
    return ": " + "".join(f"{part[0]}." for part in entry.patient.name.split() if part)


def for_patient(session: Session, *, appointment_id: int, now: datetime) -> bytes:
    """One session as an .ics for the patient's own calendar (attached to confirmations): the same event, with
    the same UID and SEQUENCE as in the clinician's feed, so a later message's attachment updates it."""
    appointment = session.get(Appointment, appointment_id)
    (entry,) = [e for e in clinician_roster(session, appointment.resource_ids(ResourceKind.CLINICIAN)[0],
                                            appointment.starts_at, appointment.ends_at, include_cancelled=True)
                if e.appointment_id == appointment_id]
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(_event(entry, stamp=now, summary=f"{entry.service.name} at {entry.location.name}"))
    add_timezones(calendar)
    return calendar.to_ical()


def _event(entry: RosterEntry, *, stamp: datetime, summary: str | None = None) -> Event:
    """``stamp``: the DTSTAMP, when the event was last revised in a feed, when the message was written in an
    attachment (METHOD:PUBLISH)."""
    event = Event()
    event.add("uid", f"appointment-{entry.appointment_id}@clinic-scheduler")
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("last-modified", entry.updated_at)
    event.add("sequence", entry.version)
    event.add("dtstart", _unambiguous(entry.starts_at))
    event.add("dtend", _unambiguous(entry.ends_at))
    event.add("summary", summary or entry.service.name + _initials(entry) + (
        f" ({entry.plan_progress})" if entry.plan_progress else ""))
    where = [entry.location.name, *([entry.room.name] if entry.room else [])]
    event.add("location", ", ".join(where))
    if entry.devices:
        event.add("description", "Devices: " + ", ".join(device.name for device in entry.devices))
    event.add("status", "CANCELLED" if entry.status == AppointmentStatus.CANCELLED else "CONFIRMED")
    return event
