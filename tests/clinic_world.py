"""A small, fully known clinic for availability and booking tests.

Times are chosen so each rule shows: Monday 1 March 2027 is the reference day
("now" is 08:00 that morning, New York); Sunday 14 March and Sunday 7 November
2027 are the DST transition days, served by an all-night telehealth desk.
"""

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from data.db import make_engine, session_scope
from data.enums import Certification, Role, RoomKind
from data.migrate import upgrade
from data.tables import (
    Clinician,
    ClinicianCertification,
    ClinicianShift,
    Device,
    DeviceType,
    Location,
    LocationHours,
    Patient,
    Room,
    Service,
    ServiceDevice,
    ShiftBreak,
    User,
)

NY = ZoneInfo("America/New_York")
NOW = datetime(2027, 3, 1, 8, 0, tzinfo=NY)
EVERY_DAY = range(7)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """A local New York instant in 2027."""
    return datetime(2027, month, day, hour, minute, tzinfo=NY)


@dataclass
class World:
    midtown: Location
    night_desk: Location
    dana: Clinician
    max: Clinician
    eli: Clinician
    owl: Clinician
    shockwave: Device
    ultrasounds: list[Device]
    rooms: list[Room]
    gym: Room
    eswt: Service
    msus: Service
    rehab: Service
    telehealth: Service
    gait: Service
    patients: list[Patient]


def _clinician(location: Location, name: str, certifications, shifts) -> Clinician:
    return Clinician(
        name=name, location_id=location.id,
        certification_links=[ClinicianCertification(certification=c) for c in certifications],
        shifts=[ClinicianShift(weekday=d, starts=s, ends=e, breaks=[ShiftBreak(starts=bs, ends=be)
                                                                   for bs, be in breaks])
                for d, s, e, breaks in shifts],
    )


def build_world(session: Session) -> World:
    midtown = Location(name="World Midtown", time_zone="America/New_York", address_line="1 World Plaza",
                       city="New York", state="NY", postal_code="10001", phone="+1 212 555 0101", opening_hours=[
        *(LocationHours(weekday=d, starts=time(7), ends=time(20)) for d in (0, 2, 3, 4, 5, 6)),
        LocationHours(weekday=1, starts=time(7), ends=time(19)),  # Tuesdays close early
    ])
    night_desk = Location(name="World Night Desk", time_zone="America/New_York", address_line="2 Harbor Road",
                          city="Stamford", state="CT", postal_code="06902", website="https://night.example.org",
                          opening_hours=[
        LocationHours(weekday=d, starts=time(0), ends=time(23, 59)) for d in EVERY_DAY])
    session.add_all([midtown, night_desk])
    session.flush()

    lunch = [(time(12), time(12, 30))]
    dana = _clinician(midtown, "Dana", [Certification.ESWT, Certification.MSUS],
                      [(d, time(8), time(16), lunch) for d in EVERY_DAY])
    max_ = _clinician(midtown, "Max", [Certification.MSUS, Certification.PHYSICAL_THERAPY],
                      [(d, time(8), time(16), []) for d in EVERY_DAY])
    eli = _clinician(midtown, "Eli", [Certification.ESWT], [(d, time(12), time(20), []) for d in range(5)])
    owl = _clinician(night_desk, "Owl", [], [(d, time(0), time(6), []) for d in EVERY_DAY])
    session.add_all([dana, max_, eli, owl])

    shockwave_type, ultrasound_type = DeviceType(code="w_shockwave", name="Shockwave"), DeviceType(
        code="w_ultrasound", name="Ultrasound")
    session.add_all([shockwave_type, ultrasound_type])
    session.flush()
    shockwave = Device(name="Shockwave unit", device_type_id=shockwave_type.id, location_id=midtown.id,
                       cleaning_minutes=20)
    ultrasounds = [Device(name=f"Ultrasound {n}", device_type_id=ultrasound_type.id, location_id=midtown.id,
                          cleaning_minutes=5) for n in (1, 2)]
    rooms = [Room(name=f"Treatment {n}", kind=RoomKind.TREATMENT, location_id=midtown.id) for n in (1, 2)]
    gym = Room(name="Gym", kind=RoomKind.GYM, location_id=midtown.id)
    session.add_all([shockwave, *ultrasounds, *rooms, gym])
    session.flush()

    eswt = Service(code="w_eswt", name="Shockwave therapy", duration_minutes=30,
                   required_certification=Certification.ESWT, room_kind=RoomKind.TREATMENT, buffer_after_minutes=5,
                   device_needs=[ServiceDevice(device_type_id=shockwave_type.id, count=1),
                                 ServiceDevice(device_type_id=ultrasound_type.id, count=1)])
    msus = Service(code="w_msus", name="Diagnostic ultrasound", duration_minutes=45,
                   required_certification=Certification.MSUS, room_kind=RoomKind.TREATMENT,
                   device_needs=[ServiceDevice(device_type_id=ultrasound_type.id, count=1)])
    rehab = Service(code="w_rehab", name="SIJ re-education", duration_minutes=60,
                    required_certification=Certification.PHYSICAL_THERAPY, room_kind=RoomKind.GYM)
    telehealth = Service(code="w_telehealth", name="Telehealth consultation", duration_minutes=30)
    gait = Service(code="w_gait", name="Gait analysis", duration_minutes=60, required_certification=Certification.GAIT,
                   room_kind=RoomKind.GAIT_LAB)
    patients = [Patient(given_name=name, family_name="World", birth_date=date(1985, 1, n + 1))
                for n, name in enumerate(["Ann", "Ben", "Cy"])]
    session.add_all([eswt, msus, rehab, telehealth, gait, *patients])
    session.flush()
    return World(midtown, night_desk, dana, max_, eli, owl, shockwave, ultrasounds, rooms, gym, eswt, msus, rehab,
                 telehealth, gait, patients)


def clinic(url: str) -> tuple[Engine, dict]:
    """A migrated database holding the test world and a front-desk user; the ids the tests need."""
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        world = build_world(session)
        desk = User(username="world_desk", role=Role.FRONT_DESK, password_hash="x")
        session.add(desk)
        session.flush()
        ids = {
            "desk": desk.id, "midtown": world.midtown.id, "night_desk": world.night_desk.id,
            "eswt": world.eswt.id, "msus": world.msus.id, "telehealth": world.telehealth.id,
            "patients": [p.id for p in world.patients],
            "clinicians": [world.dana.id, world.max.id, world.eli.id],
            "units": [world.shockwave.id, *(u.id for u in world.ultrasounds)],
            "mover": world.max.id,
        }
    return engine, ids
