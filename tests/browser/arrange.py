"""Arranging what the front desk's list pages show, on the served clinic of tests/browser/conftest.py.

Most things are made through the API as the desk would make them. A session that has already started cannot be:
the API books nothing in the past. Those are booked by the scheduler itself, in this process, on the served
database, with a clock set an hour before the session and a clinician of their own who works around the clock
(so any time of day has one free).
"""

import random
import string
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlmodel import Session

from data.config import Settings
from data.db import make_engine
from scheduler import booking
from tests.browser.conftest import api_token

NY = ZoneInfo("America/New_York")
API = "/api/v1"
ALL_DAY = [{"weekday": day, "starts": "00:00", "ends": "23:59"} for day in range(7)]


def unique(prefix: str) -> str:
    """A name no other run of the module uses (tests run once per browser setting against one server)."""
    return prefix + "".join(random.choices(string.ascii_lowercase, k=6))


def new_patient(base_url: str, given: str, **fields) -> dict:
    body = {"given_name": given, "family_name": unique("Test"), "birth_date": "1984-05-06", **fields}
    return desk_post(base_url, "patients", body)


def started_session(site, patient_id: int) -> dict:
    """A telehealth session at the night desk that started half an hour ago (or last night, just after midnight)."""
    base_url, world, server = site
    now = datetime.now(NY)
    start = (now - timedelta(minutes=35)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 15)
    if (start + timedelta(minutes=30)).date() != start.date():
        start = start.replace(hour=23, minute=0)  # the shift ends at 23:59: keep the session within its day
    clinician = desk_post(base_url, "clinicians", {"name": unique("Nurse "), "location_id": world.night_desk.id,
                                                   "certifications": [], "shifts": ALL_DAY}, user="boss")
    engine = make_engine(f"sqlite:///{server.log.parent / 'clinic.db'}")
    try:
        with Session(engine) as session:
            appointment = booking.book(session, actor=None, now=start - timedelta(hours=1), settings=Settings(),
                                       choice=booking.SlotChoice(world.telehealth.id, patient_id, start,
                                                                 clinician_id=clinician["id"]))
            session.commit()
            return {"id": appointment.id, "start": start.isoformat(), "day": start.date().isoformat(),
                    "clinician": clinician["name"]}
    finally:
        engine.dispose()


def desk_post(base_url: str, path: str, body: dict | None = None, user: str = "desk") -> dict:
    response = httpx.post(f"{base_url}{API}/{path}", json=body, headers=api_token(base_url, user), timeout=120)
    assert response.status_code in (200, 201), response.text
    return response.json()


def first_slot(base_url: str, service_id: int, patient_id: int, day: str) -> dict:
    """The first free slot for the patient from the given day at World Midtown, as the Book page finds it."""
    start = datetime.fromisoformat(day).replace(tzinfo=NY)
    found = httpx.get(f"{base_url}{API}/availability", headers=api_token(base_url, "desk"), params={
        "service_id": service_id, "patient_id": patient_id, "start": start.isoformat(),
        "end": (start + timedelta(days=7)).isoformat(), "limit": 1}).json()
    assert found["slots"], found
    return found["slots"][0]
