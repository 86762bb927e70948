"""The database itself refuses nonsense, whatever the code above it does."""

from datetime import UTC, date, datetime, time

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError

from data.enums import Role
from data.tables import (
    Clinician,
    ClinicianException,
    ClinicianShift,
    Location,
    Patient,
    Service,
    User,
)


@pytest.fixture
def location(session):
    location = Location(name="Constraint site", time_zone="America/New_York")
    session.add(location)
    session.flush()
    return location


def refused(session, *rows) -> None:
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.add_all(rows)
            session.flush()


def test_service_duration_and_buffers(session):
    refused(session, Service(code="zero", name="Zero", duration_minutes=0))
    refused(session, Service(code="neg", name="Neg", duration_minutes=30, buffer_after_minutes=-5))


def test_shift_ends_after_it_starts_on_a_real_weekday(session, location):
    clinician = Clinician(name="C", location_id=location.id)
    session.add(clinician)
    session.flush()
    refused(session, ClinicianShift(clinician_id=clinician.id, weekday=1, starts=time(17), ends=time(9)))
    refused(session, ClinicianShift(clinician_id=clinician.id, weekday=7, starts=time(9), ends=time(17)))


def test_exception_window_ends_after_it_starts(session, location):
    clinician = Clinician(name="C", location_id=location.id)
    session.add(clinician)
    session.flush()
    at = datetime(2027, 1, 1, tzinfo=UTC)
    refused(session, ClinicianException(clinician_id=clinician.id, kind="time_off", starts_at=at, ends_at=at))


def test_clinician_role_and_clinician_link_go_together(session, location):
    clinician = Clinician(name="C", location_id=location.id)
    session.add(clinician)
    session.flush()
    refused(session, User(username="x", password_hash="h", role=Role.CLINICIAN))
    refused(session, User(username="y", password_hash="h", role=Role.ADMIN, clinician_id=clinician.id))


def test_unknown_enum_values_and_dangling_references(session, location):
    with pytest.raises((IntegrityError, StatementError)):
        with session.begin_nested():
            session.execute(sa.text(
                "INSERT INTO room (name, kind, location_id) VALUES ('Kitchen', 'kitchen', :loc)"
            ), {"loc": location.id})
    refused(session, Clinician(name="Nowhere", location_id=987654))


def test_a_location_in_use_cannot_be_deleted_underneath(session, location):
    session.add(Clinician(name="C", location_id=location.id))
    session.flush()
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.execute(sa.text("DELETE FROM location WHERE id = :id"), {"id": location.id})


def test_naive_instants_never_reach_the_database(session, location):
    clinician = Clinician(name="C", location_id=location.id)
    session.add(clinician)
    session.flush()
    with pytest.raises(StatementError, match="naive datetime"):
        with session.begin_nested():
            session.add(ClinicianException(clinician_id=clinician.id, kind="time_off",
                                           starts_at=datetime(2027, 1, 1), ends_at=datetime(2027, 1, 2)))
            session.flush()


def test_instants_come_back_in_utc(session, location):
    clinician = Clinician(name="C", location_id=location.id)
    session.add(clinician)
    session.flush()
    local = datetime.fromisoformat("2027-03-14T01:30:00-05:00")
    session.add(ClinicianException(clinician_id=clinician.id, kind="time_off", starts_at=local,
                                   ends_at=datetime.fromisoformat("2027-03-14T03:30:00-04:00")))
    session.flush()
    session.expire_all()
    stored = session.get(Clinician, clinician.id).exceptions[0]
    assert stored.starts_at == local and stored.starts_at.tzinfo == UTC
    assert (stored.ends_at - stored.starts_at).total_seconds() == 3600


def test_patients_keep_only_scheduling_data():
    """Who, how to reach them (and whether they agree to be reached by e-mail and text), a birth date: no more
    (``version`` counts the record's changes, for FHIR and If-Match)."""
    assert set(Patient.model_fields) == {"id", "given_name", "family_name", "birth_date", "phone", "email",
                                         "erased_at", "email_messages", "sms_messages", "version"}
    assert Patient(given_name="A", family_name="B", birth_date=date(1990, 1, 1)).phone is None
