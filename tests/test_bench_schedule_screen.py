"""The schedule-screen benchmark's day (bench/schedule_screen.py), built small: every clinician gets the sessions
asked for through the real booking code, the schedule stays sound, and GET /schedule shows exactly those sessions.
Nothing here measures or asserts time."""

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.main import create_app
from bench.schedule_screen import FRONT_DESK, build_day
from data.config import Settings
from data.db import make_engine
from tests.factories import API
from tests.invariants import schedule_violations

TODAY = date(2026, 3, 4)  # a Wednesday: the benchmark's day is the Thursday after next, 12 March
NOW = datetime(2026, 3, 4, 12, tzinfo=ZoneInfo("America/New_York"))
PASSWORD = "bench desk password"
CLINICIANS, EACH = 12, 2  # the demo's ten and two more; Priya Raman does not work Thursdays and gets a cover shift


def test_the_benchmark_day_gives_each_clinician_their_sessions_and_the_schedule_shows_them_all(tmp_path):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    built = build_day(url, today=TODAY, now=NOW, password=PASSWORD, clinicians=CLINICIANS, sessions_each=EACH)
    assert (built["day"], built["weekday"], built["week_from"]) == ("2026-03-12", "Thursday", "2026-03-09")
    assert (built["clinicians"], built["sessions"]) == (CLINICIANS, CLINICIANS * EACH)
    assert built["rooms"] == CLINICIANS + 2 + 1, "a treatment room per clinician, the demo's gym and gait lab, Gym 2"

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            assert schedule_violations(session, now=NOW) == []
        app = create_app(Settings(database_url=url, secret_key="bench-schedule-test-" + "k" * 32,
                                  background_jobs=False), engine)
        with TestClient(app) as client:
            signed_in = client.post(f"{API}/auth/token", data={"username": FRONT_DESK, "password": PASSWORD})
            assert signed_in.status_code == 200, signed_in.text
            client.headers["Authorization"] = f"Bearer {signed_in.json()['access_token']}"
            day, week = (client.get(f"{API}/schedule", params={"location_id": built["location_id"], "day": first,
                                                                  "days": days})
                         for first, days in ((built["day"], 1), (built["week_from"], 7)))
            assert day.status_code == week.status_code == 200, day.text
            day, week = day.json(), week.json()
    finally:
        engine.dispose()

    sessions = day["sessions"]
    assert len(sessions) == CLINICIANS * EACH
    assert {s["appointment_id"] for s in week["sessions"]} == {s["appointment_id"] for s in sessions}
    assert all(s["status"] == "booked" and s["start"].startswith(built["day"]) for s in sessions)
    assert len({s["patient"]["id"] for s in sessions}) == len(sessions), "one patient per session"
    kinds = {r["id"]: r["kind"] for r in day["resources"]}
    assert Counter(kinds.values())["clinician"] == CLINICIANS
    per_clinician = Counter(r for s in sessions for r in s["resource_ids"] if kinds[r] == "clinician")
    assert per_clinician == dict.fromkeys((r for r, kind in kinds.items() if kind == "clinician"), EACH)
    for s in sessions:
        in_a_room = any(kinds[r] == "room" for r in s["resource_ids"])
        assert in_a_room == (s["service"]["name"] != "Telehealth consultation"), s
