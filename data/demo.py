"""The demo clinic: an SI-joint and low-back practice in Manhattan, always the same.

Modeled on the clinic and the service table in docs/design.md: scarce
devices (one shockwave unit, one EMTT unit, three ultrasound units, the gait
lab) and clinicians whose certifications overlap only partly, so that
scheduling has real trade-offs to make. Everything is deterministic: the same
call on an empty database gives the same rows every time.
"""

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from data.accounts import upsert_user
from data.enums import Certification as C
from data.enums import ExceptionKind, Role, RoomKind
from data.tables import (
    Clinician,
    ClinicianCertification,
    ClinicianException,
    ClinicianShift,
    Device,
    DeviceMaintenance,
    DeviceType,
    Location,
    LocationHours,
    Patient,
    PlanTemplate,
    Room,
    Service,
    ServiceDevice,
    ShiftBreak,
    TemplateLine,
    TemplateLink,
)

TIME_ZONE = "America/New_York"
LOCATION_NAME = "NYDN Rehab Midtown"
DEMO_CLINICIAN = "Dana Whitfield"
WEEKDAYS, SATURDAY = range(5), 5

DEVICE_TYPES = [
    ("ultrasound", "Musculoskeletal ultrasound unit", [("Ultrasound 1", 5), ("Ultrasound 2", 5), ("Ultrasound 3", 5)]),
    ("shockwave", "Focused shockwave (ESWT) unit", [("Shockwave unit", 10)]),
    ("emtt", "EMTT (magnetotransduction) unit", [("EMTT unit", 5)]),
]

ROOMS = [*((f"Treatment {n}", RoomKind.TREATMENT) for n in range(1, 7)), ("Gym", RoomKind.GYM),
         ("Gait lab", RoomKind.GAIT_LAB)]

# code, name, minutes, certification, room kind, buffer before/after, {device type: count}
SERVICES = [
    ("msus_diagnosis", "Diagnostic musculoskeletal ultrasound", 60, C.MSUS, RoomKind.TREATMENT, 0, 5,
     {"ultrasound": 1}),
    ("dry_needling", "Ultrasound-guided dry needling", 45, C.DRY_NEEDLING, RoomKind.TREATMENT, 0, 5,
     {"ultrasound": 1}),
    ("eswt", "Focused shockwave therapy (ultrasound-guided)", 30, C.ESWT, RoomKind.TREATMENT, 0, 0,
     {"shockwave": 1, "ultrasound": 1}),
    ("emtt", "EMTT (extracorporeal magnetotransduction)", 30, C.EMTT, RoomKind.TREATMENT, 0, 0, {"emtt": 1}),
    ("sij_manual", "Manual SI-joint mobilization / chiropractic care", 30, C.MANUAL_THERAPY, RoomKind.TREATMENT,
     0, 5, {}),
    ("sij_reeducation", "SI-joint re-education / motor control", 60, C.PHYSICAL_THERAPY, RoomKind.GYM, 0, 0, {}),
    ("dns", "Dynamic neuromuscular stabilization (DNS)", 45, C.DNS, RoomKind.GYM, 0, 0, {}),
    ("gait_analysis", "3D gait analysis", 60, C.GAIT, RoomKind.GAIT_LAB, 10, 10, {}),
    ("gait_retraining", "Gait retraining", 45, C.GAIT, RoomKind.GAIT_LAB, 5, 5, {}),
    ("telehealth", "Telehealth consultation", 30, None, None, 0, 0, {}),
]

EARLY = (time(7, 30), time(15, 30), time(11, 30), time(12, 0))
DAY = (time(9, 0), time(17, 0), time(13, 0), time(13, 30))
LATE = (time(12, 0), time(20, 0), time(16, 0), time(16, 30))
SATURDAY_MORNING = (time(8, 0), time(13, 0), None, None)

# name, title, certifications, {weekday: shift}
CLINICIANS = [
    ("Dana Whitfield", "DC, RMSK", [C.MSUS, C.DRY_NEEDLING, C.ESWT, C.MANUAL_THERAPY, C.DNS],
     {**dict.fromkeys(range(4), DAY), 4: EARLY}),
    ("Marcus Oyelaran", "PT, DPT", [C.PHYSICAL_THERAPY, C.DNS, C.DRY_NEEDLING, C.EMTT],
     {**dict.fromkeys(WEEKDAYS, EARLY), SATURDAY: SATURDAY_MORNING}),
    ("Sofia Lindqvist", "PT, DPT, OCS", [C.PHYSICAL_THERAPY, C.MSUS, C.DRY_NEEDLING, C.ESWT],
     dict.fromkeys((1, 2, 3, 4), LATE)),
    ("Priya Raman", "PT, DPT", [C.PHYSICAL_THERAPY, C.GAIT, C.DNS],
     {**dict.fromkeys((0, 2, 4), DAY), SATURDAY: SATURDAY_MORNING}),
    ("Tomasz Nowicki", "DC", [C.MANUAL_THERAPY, C.EMTT, C.ESWT], dict.fromkeys((0, 1, 3, 4), LATE)),
    ("Aisha Bello", "PTA", [C.PHYSICAL_THERAPY, C.EMTT], dict.fromkeys(WEEKDAYS, DAY)),
    ("Jonah Feld", "MS, CSCS", [C.GAIT, C.PHYSICAL_THERAPY], dict.fromkeys((1, 2, 3), EARLY)),
    ("Elena Vasquez", "DC, MS", [C.MANUAL_THERAPY, C.MSUS, C.DNS], dict.fromkeys((0, 1, 2, 3), EARLY)),
    ("Kenji Watanabe", "PT, DPT", [C.PHYSICAL_THERAPY, C.DRY_NEEDLING, C.MANUAL_THERAPY],
     {**dict.fromkeys((2, 3, 4), LATE), SATURDAY: SATURDAY_MORNING}),
    ("Rachel Adeyemi", "EMTT technician", [C.EMTT], dict.fromkeys((0, 1, 2, 3, 4), LATE)),
]

# code, name, lines (service, count, min gap, max gap, same clinician), links (kind, first, then)
TEMPLATES = [
    ("eswt_course", "Focused shockwave course", [("msus_diagnosis", 1, None, None, "preferred"),
                                                ("eswt", 4, 5, 10, "preferred")],
     [("before", "msus_diagnosis", "eswt")]),
    ("eswt_emtt", "Shockwave with EMTT in the same visit", [("msus_diagnosis", 1, None, None, "preferred"),
                                                            ("eswt", 4, 5, 10, "preferred"),
                                                            ("emtt", 4, 5, 10, "none")],
     [("before", "msus_diagnosis", "eswt"), ("same_visit", "eswt", "emtt")]),
    ("emtt_course", "EMTT twice a week for four weeks", [("emtt", 8, 2, 5, "none")], []),
    ("sij_rehab", "SI-joint rehab: manual therapy and re-education twice a week for six weeks",
     [("sij_manual", 12, 2, 5, "preferred"), ("sij_reeducation", 12, 2, 5, "preferred")], []),
    ("needling_course", "Ultrasound-guided dry needling after diagnosis",
     [("msus_diagnosis", 1, None, None, "preferred"), ("dry_needling", 4, 7, 14, "required")],
     [("before", "msus_diagnosis", "dry_needling")]),
]

GIVEN_NAMES = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Mia", "Lucas", "Chloe", "Ethan", "Isla",
               "Samuel", "Zoe", "Daniel", "Maya", "Gabriel", "Nora", "Adrian", "Leah", "Julian"]
FAMILY_NAMES = ["Alvarez", "Brennan", "Cho", "Dubois", "Eriksen", "Fitzgerald", "Goldberg", "Haddad",
                "Iverson", "Jablonski", "Kowalczyk", "Lombardi", "Moreau", "Nakamura", "O'Connell",
                "Petrov", "Quinn", "Rosen", "Santos", "Takahashi"]
PATIENT_COUNT = 60
DEMO_USERS = [("admin", Role.ADMIN), ("frontdesk", Role.FRONT_DESK), ("clinician", Role.CLINICIAN)]


def is_loaded(session: Session) -> bool:
    return session.exec(select(Location).where(Location.name == LOCATION_NAME)).first() is not None


def load_demo_clinic(session: Session, *, today: date) -> None:
    """Add the demo clinic unless it is there already; ``today`` anchors its dated entries."""
    if is_loaded(session):
        return
    location = Location(
        name=LOCATION_NAME,
        address="44 East 30th Street, New York, NY 10016",
        address_line="44 East 30th Street", city="New York", state="NY", postal_code="10016",
        phone="+1 212 555 0199", website="https://clinic.example.org/midtown",
        time_zone=TIME_ZONE,
        opening_hours=[
            *(LocationHours(weekday=day, starts=time(7, 0), ends=time(20, 30)) for day in WEEKDAYS),
            LocationHours(weekday=SATURDAY, starts=time(8, 0), ends=time(14, 0)),
        ],
    )
    session.add(location)
    session.flush()

    zone = ZoneInfo(TIME_ZONE)
    next_monday = today + timedelta(days=7 - today.weekday())

    def local(day: date, at: time) -> datetime:
        return datetime.combine(day, at, zone)

    types: dict[str, DeviceType] = {}
    for code, name, units in DEVICE_TYPES:
        types[code] = DeviceType(code=code, name=name)
        session.add(types[code])
        session.flush()
        for unit_name, cleaning in units:
            session.add(Device(name=unit_name, device_type_id=types[code].id, location_id=location.id,
                               cleaning_minutes=cleaning))
    session.flush()
    shockwave = session.exec(select(Device).where(Device.name == "Shockwave unit")).one()
    shockwave.maintenance = [DeviceMaintenance(
        starts_at=local(next_monday + timedelta(days=2), time(7, 0)),
        ends_at=local(next_monday + timedelta(days=2), time(12, 0)),
        reason="Annual service by the manufacturer",
    )]

    for name, kind in ROOMS:
        session.add(Room(name=name, kind=kind, location_id=location.id))

    for code, name, minutes, certification, room_kind, before, after, needs in SERVICES:
        session.add(Service(
            code=code, name=name, duration_minutes=minutes, required_certification=certification,
            room_kind=room_kind, buffer_before_minutes=before, buffer_after_minutes=after,
            device_needs=[ServiceDevice(device_type_id=types[kind].id, count=count) for kind, count in needs.items()],
        ))

    session.flush()
    services = {service.code: service.id for service in session.exec(select(Service))}
    for code, name, lines, links in TEMPLATES:
        session.add(PlanTemplate(
            code=code, name=name,
            lines=[TemplateLine(service_id=services[service], count=count, min_gap_days=low, max_gap_days=high,
                                same_clinician=same) for service, count, low, high, same in lines],
            links=[TemplateLink(kind=kind, first_service_id=services[first], then_service_id=services[then])
                   for kind, first, then in links],
        ))

    for name, title, certifications, week in CLINICIANS:
        clinician = Clinician(
            name=name, title=title, location_id=location.id,
            email=f"{name.split()[0].lower()}@demo.clinic",
            certification_links=[ClinicianCertification(certification=c) for c in certifications],
            shifts=[_shift(day, *hours) for day, hours in sorted(week.items())],
        )
        session.add(clinician)
    session.flush()
    sofia = session.exec(select(Clinician).where(Clinician.name == "Sofia Lindqvist")).one()
    sofia.exceptions = [ClinicianException(
        kind=ExceptionKind.TIME_OFF, starts_at=local(next_monday + timedelta(days=8), time(0, 0)),
        ends_at=local(next_monday + timedelta(days=10), time(0, 0)), note="Conference",
    )]
    marcus = session.exec(select(Clinician).where(Clinician.name == "Marcus Oyelaran")).one()
    marcus.exceptions = [ClinicianException(
        kind=ExceptionKind.EXTRA_SHIFT, starts_at=local(next_monday + timedelta(days=6), time(9, 0)),
        ends_at=local(next_monday + timedelta(days=6), time(13, 0)), note="Sunday clinic",
    )]

    for patient in _patients():
        session.add(patient)
    session.flush()


def ensure_demo_users(session: Session, *, password: str) -> None:
    """Create (or reset) the three demo accounts with ``password``."""
    clinician = session.exec(select(Clinician).where(Clinician.name == DEMO_CLINICIAN)).one()
    for username, role in DEMO_USERS:
        upsert_user(session=session, username=username, password=password, role=role,
                    clinician_id=clinician.id if role == Role.CLINICIAN else None)


def _shift(weekday: int, starts: time, ends: time, break_starts: time | None, break_ends: time | None):
    breaks = [ShiftBreak(starts=break_starts, ends=break_ends)] if break_starts else []
    return ClinicianShift(weekday=weekday, starts=starts, ends=ends, breaks=breaks)


def _patients() -> list[Patient]:
    rng = random.Random(20261125)
    patients = []
    for index in range(PATIENT_COUNT):
        given = GIVEN_NAMES[index % len(GIVEN_NAMES)]
        family = FAMILY_NAMES[(index * 7 + index // len(GIVEN_NAMES)) % len(FAMILY_NAMES)]
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
        handle = f"{given}.{family}".lower().replace("'", "")
        patients.append(Patient(given_name=given, family_name=family, birth_date=birth,
                                phone=f"+1 212 555 {1000 + index:04d}", email=f"{handle}@example.com"))
    return patients
