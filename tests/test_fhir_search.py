"""FHIR search semantics: paging that reaches every free Slot, date prefixes and precisions, result parameters,
lenient handling, POST _search, JSON only, and a clinician's free time (``schedule.actor``).

What does not depend on the database runs on SQLite only; the Appointment search (SQL) runs on both.
"""

from datetime import date, datetime, time
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from data.tables import Clinician, ClinicianShift, Location, LocationHours

from tests.booking_helpers import booked, set_clock
from tests.clinic_world import EVERY_DAY, NOW, at, build_world
from tests.test_fhir import FHIR_JSON, resources, valid

SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
SUBSETTED = "SUBSETTED"


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


def fetch(client, headers, path, expect=200, **params):
    response = client.get(f"/fhir/{path}", params=params, headers=headers)
    assert response.status_code == expect, response.text[:2000]
    assert response.headers["content-type"].startswith(FHIR_JSON)
    return valid(response.json())


def following(bundle: dict) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)


def walk(client, headers, path, **params) -> list[dict]:
    """Every entry of a search, following next links to the last page."""
    page, found = fetch(client, headers, path, **params), []
    while True:
        found += resources(page)
        if (url := following(page)) is None:
            return found
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text[:2000]
        page = valid(response.json())


def ids(found: list[dict]) -> list[str]:
    return [resource["id"] for resource in found]


def week(day: int) -> list[str]:
    return [f"ge{at(day, 0).isoformat()}", f"lt{at(day + 7, 0).isoformat()}"]


@SQLITE_ONLY
def test_paging_reaches_every_free_slot_of_a_week_once(client, as_desk, world):
    schedule = f"Schedule/service-{world.msus.id}"
    paged = walk(client, as_desk, "Slot", schedule=schedule, start=week(2))
    by_day = [slot for day in range(2, 9) for slot in walk(client, as_desk, "Slot", schedule=schedule,
                                                               start=f"2027-03-{day:02d}")]
    assert len(paged) > 200, "more than the old cap of 200"
    assert ids(paged) == ids(by_day), "the same slots, in start order, none twice"
    assert len(set(ids(paged))) == len(paged)
    starts = [datetime.fromisoformat(slot["start"]) for slot in paged]
    assert starts == sorted(starts)

    first = fetch(client, as_desk, "Slot", schedule=schedule, start=week(2), _total="accurate")
    assert first["total"] == len(paged) and len(resources(first)) == 50
    assert "total" not in fetch(client, as_desk, "Slot", schedule=schedule, start=week(2)), "absent, never wrong"
    for counting in ({"_count": "0"}, {"_summary": "count"}):
        only = fetch(client, as_desk, "Slot", schedule=schedule, start=week(2), **counting)
        assert only["total"] == len(paged) and "entry" not in only
    small = fetch(client, as_desk, "Slot", schedule=schedule, start="2027-03-03", _count="200")
    assert small["total"] == len(resources(small)) and following(small) is None, "one whole page knows its total"
    cursor = parse_qs(urlsplit(following(first)).query)["_cursor"][0]
    assert cursor.endswith(paged[49]["id"])
    fetch(client, as_desk, "Slot", 400, schedule=schedule, _cursor="nonsense")
    fetch(client, as_desk, "Slot", 400, schedule=schedule, _offset="50")


@SQLITE_ONLY
def test_start_prefixes_bound_the_slot_start(client, as_desk, world):
    schedule = f"Schedule/service-{world.msus.id}"
    day = walk(client, as_desk, "Slot", schedule=schedule, start="2027-03-03")
    moment = day[5]["start"]
    at_moment = {slot["id"] for slot in day if slot["start"] == moment}

    def starting(*values: str) -> set[str]:
        return {slot["start"] for slot in walk(client, as_desk, "Slot", schedule=schedule,
                                               start=["ge2027-03-03", "lt2027-03-04", *values])}

    assert moment not in starting(f"gt{moment}") and moment not in starting(f"sa{moment}")
    assert moment in starting(f"ge{moment}") and moment in starting(f"le{moment}")
    assert moment not in starting(f"lt{moment}") and moment not in starting(f"eb{moment}")
    assert starting(f"eq{moment}") == {moment} == starting(moment[:16] + moment[19:])  # minute precision
    assert at_moment and {s["id"] for s in walk(client, as_desk, "Slot", schedule=schedule, start=moment)} == at_moment
    assert moment not in starting(f"ne{moment}") and len(starting(f"ne{moment}")) == len(starting()) - 1
    skipping = walk(client, as_desk, "Slot", schedule=schedule, start=[*week(2), "ne2027-03-04"])
    assert skipping and not any(slot["start"].startswith("2027-03-04") for slot in skipping)
    assert fetch(client, as_desk, "Slot", 400, schedule=schedule, start=f"ap{moment}")["issue"][0][
        "diagnostics"].startswith("the ap (approximately) prefix is not supported")
    assert "31 days" in fetch(client, as_desk, "Slot", 400, schedule=schedule, start="2027")["issue"][0]["diagnostics"]
    for wrong in ("2027-13", "2027-02-30", "ge2027-03-03T25:00:00Z", "2027-03-03T09:00:00+05:75", "yesterday"):
        fetch(client, as_desk, "Slot", 400, schedule=schedule, start=wrong)


def test_appointments_are_found_by_their_start(client, as_desk, world):
    nine = booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    later = booked(client, as_desk, world.msus, world.patients[1], at(4, 9), clinician_id=world.max.id)
    april = booked(client, as_desk, world.msus, world.patients[2], at(5, 9, month=4), clinician_id=world.max.id)

    def found(**params) -> list[str]:
        return ids(walk(client, as_desk, "Appointment", **params))

    every = [str(nine["id"]), str(later["id"]), str(april["id"])]
    assert found() == every
    assert found(date=f"ge{at(3, 9, 30).isoformat()}") == every[1:], "the start, not the span"
    assert found(date=f"gt{at(3, 9).isoformat()}") == every[1:] and found(date=f"ge{at(3, 9).isoformat()}") == every
    assert found(date="2027-03") == every[:2] and found(date="ge2027-04") == every[2:]
    assert found(date="2027") == every and found(date="2026") == []
    assert found(date="sa2027-03-03") == every[1:] and found(date="eb2027-03-04") == every[:1]
    assert found(date="ne2027-03-04") == [every[0], every[2]]
    assert found(_id=every[1]) == every[1:2] and found(_id=f"{every[2]},{every[0]},abc") == [every[0], every[2]]
    assert found(_sort="-date") == every[::-1] and found(_sort="date") == every
    assert found(_count="1") == every and found(_count="1", _sort="-date") == every[::-1], "paged by cursor"
    assert found(_count="2", status="booked", practitioner=f"Practitioner/{world.max.id}") == every
    fetch(client, as_desk, "Appointment", 400, _sort="status")

    assert fetch(client, as_desk, "Appointment", _count="1")["total"] == 3
    for counting in ({"_count": "0"}, {"_summary": "count"}):
        only = fetch(client, as_desk, "Appointment", **counting)
        assert only["total"] == 3 and "entry" not in only
    assert "total" not in fetch(client, as_desk, "Appointment", _total="none")

    slim = resources(fetch(client, as_desk, "Appointment", _elements="start", _id=every[0]))[0]
    assert set(slim) - {"meta"} == {"resourceType", "id", "start", "status", "participant"}, "and the mandatory ones"
    assert SUBSETTED in {tag["code"] for tag in slim["meta"]["tag"]}
    summary = resources(fetch(client, as_desk, "Appointment", _summary="true", _id=every[0]))[0]
    assert "start" in summary and "created" not in summary and "minutesDuration" not in summary
    fetch(client, as_desk, "Appointment", 400, _elements="colour")

    form = client.post("/fhir/Appointment/_search", params={"_count": "1"}, headers=as_desk,
                       data={"patient": f"Patient/{world.patients[1].id}", "date": "ge2027-03"})
    assert form.status_code == 200, form.text
    assert ids(resources(valid(form.json()))) == every[1:2]
    self_link = parse_qs(urlsplit(form.json()["link"][0]["url"]).query)
    assert self_link["patient"] == [f"Patient/{world.patients[1].id}"] and self_link["_count"] == ["1"]


@SQLITE_ONLY
def test_unknown_parameters_are_refused_unless_lenient(client, as_desk, world):
    for prefer in ({}, {"Prefer": "handling=strict"}):
        refused = fetch(client, {**as_desk, **prefer}, "Practitioner", 400, colour="blue", name="dan")
        assert "unknown search parameter 'colour'" in refused["issue"][0]["diagnostics"]
    lenient = fetch(client, {**as_desk, "Prefer": "return=representation; handling=lenient"}, "Practitioner",
                    colour="blue", name="dan")
    assert ids(resources(lenient)) == [str(world.dana.id)]
    assert "colour" not in lenient["link"][0]["url"] and "name=dan" in lenient["link"][0]["url"]

    form = client.post("/fhir/Practitioner/_search", headers=as_desk, data={"name": "dan"})
    assert form.status_code == 200 and ids(resources(valid(form.json()))) == [str(world.dana.id)]
    assert client.post("/fhir/Practitioner/_search", headers=as_desk, json={"name": "dan"}).status_code == 415


@SQLITE_ONLY
def test_only_json_is_spoken(client, as_desk, world):
    for path in ("Practitioner", f"Practitioner/{world.dana.id}"):
        for fine in ("json", "application/json", "application/fhir+json"):
            fetch(client, as_desk, path, _format=fine)
        for accept in ("*/*", "application/json", "application/fhir+json", "application/fhir+xml;q=1, */*;q=0.1"):
            assert client.get(f"/fhir/{path}", headers={**as_desk, "Accept": accept}).status_code == 200
        for refused in ({"params": {"_format": "xml"}}, {"params": {"_format": "application/fhir+xml"}},
                        {"headers": {"Accept": "application/fhir+xml"}},
                        {"headers": {"Accept": "application/xml, application/fhir+json;q=0"}}):
            response = client.get(f"/fhir/{path}", params=refused.get("params"),
                                  headers={**as_desk, **refused.get("headers", {})})
            assert response.status_code == 406, response.text
            assert valid(response.json())["issue"][0]["code"] == "not-supported"


@SQLITE_ONLY
def test_a_clinicians_free_and_busy_slots(client, as_desk, world):
    max_ = f"Practitioner/{world.max.id}"
    day = {"start": ["ge2027-03-03", "lt2027-03-04"]}
    free = walk(client, as_desk, "Slot", **{"schedule.actor": max_, "status": "free"}, **day)
    assert {slot["serviceType"][0]["coding"][0]["code"] for slot in free} >= {"w_msus", "w_rehab"}
    assert all(f"-c{world.max.id}-" in slot["id"] and slot["status"] == "free" for slot in free)
    msus = walk(client, as_desk, "Slot", schedule=f"Schedule/service-{world.msus.id}", **day)
    assert {s["id"] for s in free if s["schedule"]["reference"].endswith(f"service-{world.msus.id}")} == {
        s["id"] for s in msus if f"-c{world.max.id}-" in s["id"]}
    only_msus = walk(client, as_desk, "Slot", **{"schedule.actor": max_, "service-type": "w_msus"}, **day)
    assert ids(only_msus) == [s["id"] for s in msus if f"-c{world.max.id}-" in s["id"]]

    booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    mixed = walk(client, as_desk, "Slot", **{"schedule.actor": max_}, **day)
    busy = [slot for slot in mixed if slot["status"] == "busy"]
    assert [slot["schedule"]["reference"] for slot in busy] == [f"Schedule/practitioner-{world.max.id}"]
    assert at(3, 9) not in {datetime.fromisoformat(s["start"]) for s in mixed if s["status"] == "free"}
    assert ids(walk(client, as_desk, "Slot", **{"schedule.actor": max_, "status": "busy"}, **day)) == ids(busy)
    fetch(client, as_desk, "Slot", 400, **{"schedule.actor": "Patient/1"})

    assert ids(walk(client, as_desk, "Slot", **{"schedule.actor": max_, "_sort": "start"}, **day)) == ids(mixed)
    fetch(client, as_desk, "Slot", 400, **{"schedule.actor": max_, "_sort": "-start"})
    slim = resources(fetch(client, as_desk, "Slot", **{"schedule.actor": max_, "_elements": "resourceType,id,start"},
                           **day))[0]
    assert set(slim) - {"meta"} == {"resourceType", "id", "start", "end", "status", "schedule"}
    posted = client.post("/fhir/Slot/_search", headers=as_desk,
                         data={"schedule.actor": max_, "start": day["start"], "status": "busy"})
    assert posted.status_code == 200 and ids(resources(valid(posted.json()))) == ids(busy)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_bare_date_is_the_named_clinic_s_own_day(client, as_desk, world, session):
    """A clinic in Tokyo among New York ones: a bare date in a search naming it (or its practitioner) is Tokyo's
    day. It was read as New York's, the server's zone: its 09:00 session of March 3 was found under March 2 and
    its slots of "March 3" ran from 14:00 that day to 14:00 the next (found by a probe, 2026-12-01)."""
    tokyo = Location(name="World Tokyo", time_zone="Asia/Tokyo", opening_hours=[
        LocationHours(weekday=d, starts=time(9), ends=time(18)) for d in EVERY_DAY])
    session.add(tokyo)
    session.flush()
    kaito = Clinician(name="Kaito", location_id=tokyo.id,
                      shifts=[ClinicianShift(weekday=d, starts=time(9), ends=time(17)) for d in EVERY_DAY])
    session.add(kaito)
    session.commit()
    tokyo_time = ZoneInfo("Asia/Tokyo")
    made = booked(client, as_desk, world.telehealth, world.patients[0],
                  datetime(2027, 3, 3, 9, tzinfo=tokyo_time), clinician_id=kaito.id)
    found = fetch(client, as_desk, "Appointment", date="2027-03-03", practitioner=f"Practitioner/{kaito.id}")
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [str(made["id"])]
    slots = walk(client, as_desk, "Slot", **{"schedule.actor": f"Location/{tokyo.id}", "service-type": "w_telehealth",
                                            "start": "2027-03-03"})
    assert slots and {datetime.fromisoformat(s["start"]).astimezone(tokyo_time).date() for s in slots} == {
        date(2027, 3, 3)}
    proposals = client.get("/fhir/Appointment/$find", headers=as_desk, params={
        "visit-type": "w_telehealth", "location-reference": f"Location/{tokyo.id}", "start": "2027-03-03",
        "end": "2027-03-03"})
    assert proposals.status_code == 200, proposals.text
    starts = [datetime.fromisoformat(e["resource"]["start"]) for e in proposals.json().get("entry", [])
              if e["resource"]["resourceType"] == "Appointment"]
    assert starts and {start.astimezone(tokyo_time).date() for start in starts} == {date(2027, 3, 3)}
