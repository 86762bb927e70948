"""The demo clinic: realistic enough to schedule with, always the same, valid by the API's own rules.

Most tests load the demo into the rolled-back ``session`` (SQLite and
PostgreSQL). The determinism test loads it into two fresh databases per
backend and compares everything that was written.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from api.schemas.catalog import (
    ClinicianFields,
    DeviceFields,
    DeviceTypeFields,
    LocationFields,
    RoomFields,
    ServiceFields,
)
from api.schemas.people import PatientFields, UserFields
from data.accounts import authenticate
from data.db import make_engine, session_scope
from data.demo import ensure_demo_users, load_demo_clinic
from data.enums import Certification, Role, RoomKind
from data.migrate import upgrade
from data.tables import (
    Clinician,
    ClinicianException,
    Device,
    DeviceMaintenance,
    DeviceType,
    Location,
    Patient,
    Room,
    Service,
    User,
)

TODAY = date(2026, 3, 4)  # a Wednesday; the demo anchors its dated entries on the Monday after
PASSWORD = "demo-password-1"


@pytest.fixture
def demo(session: Session) -> Location:
    """The demo clinic and its users, loaded inside the test's rolled-back transaction."""
    existing = set(session.exec(select(Location.id)).all())
    load_demo_clinic(session, today=TODAY)
    ensure_demo_users(session, password=PASSWORD)
    (location,) = [loc for loc in session.exec(select(Location)) if loc.id not in existing]
    return location


def at(session: Session, table, location: Location) -> list:
    return list(session.exec(select(table).where(table.location_id == location.id)))


def test_location_is_in_new_york(session, demo):
    """Shifts and opening hours are wall-clock times of America/New_York, with DST."""
    assert demo.time_zone == "America/New_York"
    assert demo.opening_hours, "the demo location should have opening hours"
    assert {hours.weekday for hours in demo.opening_hours} >= set(range(5)), "open every weekday"


def test_clinicians_have_a_realistic_mix_of_certifications(session, demo):
    """Certified clinicians are the scarce resource: several, overlapping only partly."""
    clinicians = at(session, Clinician, demo)
    assert len(clinicians) >= 8
    holders = Counter(cert for clinician in clinicians for cert in clinician.certifications)
    assert holders[Certification.ESWT] >= 2
    assert set(holders) == set(Certification), f"nobody holds {set(Certification) - set(holders)}"
    for clinician in clinicians:
        assert clinician.certifications, f"{clinician.name} holds no certification"
        assert clinician.shifts, f"{clinician.name} never works"
    assert len({clinician.name for clinician in clinicians}) == len(clinicians), "clinician names repeat"
    # Not everybody can do everything, or there would be no trade-offs to make.
    assert all(count < len(clinicians) for count in holders.values())


def test_devices_are_scarce(session, demo):
    """One shockwave unit, one EMTT unit, two or three ultrasound units (docs/design.md)."""
    units = Counter(
        session.get(DeviceType, device.device_type_id).code for device in at(session, Device, demo)
    )
    assert units["shockwave"] == 1
    assert units["emtt"] == 1
    assert 2 <= units["ultrasound"] <= 3


def test_rooms(session, demo):
    """Treatment rooms for hands-on care and devices, a gym for re-education, the gait lab."""
    kinds = Counter(room.kind for room in at(session, Room, demo))
    assert kinds[RoomKind.TREATMENT] >= 5
    assert kinds[RoomKind.GYM] >= 1
    assert kinds[RoomKind.GAIT_LAB] == 1


# code: (certification, room kind, {device type: count}, allowed minutes) as the docs/design.md table says
EXPECTED_SERVICES = {
    "msus_diagnosis": (Certification.MSUS, RoomKind.TREATMENT, {"ultrasound": 1}, range(45, 61)),
    "dry_needling": (Certification.DRY_NEEDLING, RoomKind.TREATMENT, {"ultrasound": 1}, range(30, 46)),
    "eswt": (Certification.ESWT, RoomKind.TREATMENT, {"shockwave": 1, "ultrasound": 1}, [30]),
    "emtt": (Certification.EMTT, RoomKind.TREATMENT, {"emtt": 1}, range(20, 31)),
    "sij_manual": (Certification.MANUAL_THERAPY, RoomKind.TREATMENT, {}, [30]),
    "sij_reeducation": (Certification.PHYSICAL_THERAPY, RoomKind.GYM, {}, range(45, 61)),
    "dns": (Certification.DNS, RoomKind.GYM, {}, range(45, 61)),
    "gait_analysis": (Certification.GAIT, RoomKind.GAIT_LAB, {}, [60]),
    "gait_retraining": (Certification.GAIT, RoomKind.GAIT_LAB, {}, [45]),
    "telehealth": (None, None, {}, [30]),
}


def test_every_service_of_the_design_table(session, demo):
    """Each service needs what docs/design.md says: certification, devices, room kind, length."""
    services = {service.code: service for service in session.exec(select(Service))}
    assert set(EXPECTED_SERVICES) <= set(services), f"missing {set(EXPECTED_SERVICES) - set(services)}"
    for code, (certification, room_kind, needs, minutes) in EXPECTED_SERVICES.items():
        service = services[code]
        device_needs = {session.get(DeviceType, need.device_type_id).code: need.count for need in service.device_needs}
        assert (service.required_certification, service.room_kind, device_needs) == (
            certification, room_kind, needs), code
        assert service.duration_minutes in minutes, f"{code} lasts {service.duration_minutes} min"


def test_every_service_can_be_given_at_the_demo_location(session, demo):
    """A certified clinician, enough device units and a fitting room exist for each service."""
    certified = {cert for clinician in at(session, Clinician, demo) for cert in clinician.certifications}
    units = Counter(device.device_type_id for device in at(session, Device, demo))
    room_kinds = {room.kind for room in at(session, Room, demo)}
    for service in session.exec(select(Service)):
        if service.required_certification is not None:
            assert service.required_certification in certified, service.code
        if service.room_kind is not None:
            assert service.room_kind in room_kinds, service.code
        for need in service.device_needs:
            assert units[need.device_type_id] >= need.count, service.code


def test_about_sixty_distinct_patients(session):
    """Enough patients to fill a waitlist, none of them namesakes."""
    before = len(session.exec(select(Patient)).all())
    load_demo_clinic(session, today=TODAY)
    patients = session.exec(select(Patient)).all()
    assert 55 <= len(patients) - before <= 65
    names = [(patient.given_name, patient.family_name) for patient in patients]
    assert len(set(names)) == len(names), [name for name, n in Counter(names).items() if n > 1]


def test_dated_entries_lie_ahead_of_today(session, demo):
    """Maintenance and time off are anchored on ``today``, so the demo never looks stale."""
    windows = [(row.starts_at, row.ends_at) for row in session.exec(select(DeviceMaintenance))]
    windows += [(row.starts_at, row.ends_at) for row in session.exec(select(ClinicianException))]
    assert windows, "the demo should show some maintenance and time off"
    start_of_today = datetime.combine(TODAY, time(0, 0), ZoneInfo("America/New_York"))
    for starts_at, ends_at in windows:
        assert starts_at.tzinfo is not None and ends_at.tzinfo is not None
        assert start_of_today < starts_at < ends_at < start_of_today + timedelta(weeks=4)


def test_loading_twice_adds_nothing(session, demo):
    """Demo mode runs at every start-up; the second load must be a no-op."""
    tables = [Location, Clinician, DeviceType, Device, Room, Service, Patient, User]
    counts = {table.__name__: len(session.exec(select(table)).all()) for table in tables}
    load_demo_clinic(session, today=TODAY + timedelta(days=3))
    ensure_demo_users(session, password=PASSWORD)
    assert {table.__name__: len(session.exec(select(table)).all()) for table in tables} == counts


VALIDATORS = [
    (Location, LocationFields),
    (Clinician, ClinicianFields),
    (DeviceType, DeviceTypeFields),
    (Device, DeviceFields),
    (Room, RoomFields),
    (Service, ServiceFields),
    (Patient, PatientFields),
    (User, UserFields),
]


@pytest.mark.parametrize(("table", "fields"), VALIDATORS, ids=[table.__name__ for table, _ in VALIDATORS])
def test_every_demo_record_passes_api_validation(session, demo, table, fields):
    """The demo obeys the same rules as an admin typing it in through the API."""
    session.expire_all()  # validate what the database gives back, not the objects we built
    rows = session.exec(select(table)).all()
    assert rows
    for row in rows:
        fields.model_validate(row)


def test_demo_users_sign_in(session, demo):
    """admin, frontdesk and clinician exist with the given password and the right roles."""
    roles = {"admin": Role.ADMIN, "frontdesk": Role.FRONT_DESK, "clinician": Role.CLINICIAN}
    for username, role in roles.items():
        user = authenticate(session=session, username=username, password=PASSWORD)
        assert user is not None, username
        assert user.role == role
        assert authenticate(session=session, username=username, password=PASSWORD + "x") is None
    clinician_user = authenticate(session=session, username="clinician", password=PASSWORD)
    clinician = session.get(Clinician, clinician_user.clinician_id)
    assert clinician is not None and clinician.location_id == demo.id
    assert authenticate(session=session, username="admin", password=PASSWORD).clinician_id is None


def test_ensure_demo_users_resets_the_password(session, demo):
    """Restarting with a new CLINIC_DEMO_PASSWORD must lock out the old one."""
    ensure_demo_users(session, password="a-brand-new-password")
    for username in ("admin", "frontdesk", "clinician"):
        assert authenticate(session=session, username=username, password=PASSWORD) is None
        assert authenticate(session=session, username=username, password="a-brand-new-password") is not None
    assert len(session.exec(select(User).where(User.username.in_(["admin", "frontdesk", "clinician"]))).all()) == 3


# Determinism: two fresh databases, same content.

FRESH_BACKENDS = [pytest.param("sqlite", id="sqlite"),
                  pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=FRESH_BACKENDS)
def fresh_engine(request, tmp_path) -> Iterator[Callable[[], Engine]]:
    """A maker of fresh migrated databases of the parametrized backend."""
    engines: list[Engine] = []

    def make() -> Engine:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'fresh{len(engines)}.db'}"
        else:
            url = request.getfixturevalue("postgres_databases")()
        engine = make_engine(url)
        upgrade(engine)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table, ids included; salted password hashes and the random catalog token left out."""
    content = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name == "catalog_version":
                continue
            columns = [column for column in table.columns if column.name not in ("password_hash", "security_stamp")]
            rows = connection.execute(sa.select(*columns)).all()
            content[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return content


def test_demo_is_deterministic(fresh_engine):
    """Two fresh databases get identical demo clinics, ids and all, so bug reports reproduce."""
    snapshots = []
    for _ in range(2):
        engine = fresh_engine()
        with session_scope(engine) as session:
            load_demo_clinic(session, today=TODAY)
            ensure_demo_users(session, password=PASSWORD)
        snapshots.append(snapshot(engine))
    first, second = snapshots
    assert len(first["patient"]) >= 55 and len(first["clinician"]) >= 8 and len(first["app_user"]) == 3
    for table in first:
        assert first[table] == second[table], f"table {table} differs between two loads"
