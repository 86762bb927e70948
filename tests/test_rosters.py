"""Rosters, the day board and calendar feeds, against known bookings (SQLite and PostgreSQL)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from data.enums import Role
from scheduler import calendar_feed
from tests.booking_helpers import booked, hold, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API
from tests.ics_readers import by_python_parsers, ical_js, observances, shown_on_its_clock
from tests.ics_readers import clock as clock_of


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


def test_the_day_s_rosters_list_each_clinician_s_sessions_with_plan_progress(client, as_desk, world):
    shockwave = booked(client, as_desk, world.eswt, world.patients[0], at(3, 9), clinician_id=world.dana.id)
    scan = booked(client, as_desk, world.msus, world.patients[1], at(3, 10), clinician_id=world.max.id)
    booked(client, as_desk, world.msus, world.patients[2], at(4, 10), clinician_id=world.max.id)  # another day
    plan = client.post(f"{API}/plans", headers=as_desk, json={
        "patient_id": world.patients[2].id, "location_id": world.midtown.id, "earliest_start": "2027-03-03",
        "latest_end": "2027-03-20", "lines": [{"service_id": world.eswt.id, "count": 2, "min_gap_days": 5,
                                               "max_gap_days": 8, "same_clinician": "required"}]}).json()
    client.post(f"{API}/plans/{plan['id']}/proposal", headers=as_desk).raise_for_status()
    client.post(f"{API}/plans/{plan['id']}/confirm", headers=as_desk).raise_for_status()

    response = client.get(f"{API}/rosters/2027-03-03", params={"location_id": world.midtown.id}, headers=as_desk)
    assert response.status_code == 200, response.text
    by_name = {roster["clinician"]["name"]: roster["entries"] for roster in response.json()}
    assert set(by_name) == {"Dana", "Max", "Eli"}
    (scan_entry,) = by_name["Max"]
    assert scan_entry["appointment_id"] == scan["id"] and scan_entry["patient"]["name"] == "Ben World"
    assert scan_entry["service"]["name"] == "Diagnostic ultrasound" and scan_entry["plan_progress"] is None
    assert datetime.fromisoformat(scan_entry["starts_at"]) == at(3, 10)
    dana_ids = [entry["appointment_id"] for entry in by_name["Dana"] + by_name["Eli"]]
    assert shockwave["id"] in dana_ids
    shockwave_entry = next(e for e in by_name["Dana"] if e["appointment_id"] == shockwave["id"])
    assert shockwave_entry["room"] is not None and [d["name"] for d in shockwave_entry["devices"]] == [
        "Shockwave unit", "Ultrasound 1"]

    plan_sessions = []
    for clinician in (world.dana, world.eli):
        plan_sessions += [e for e in client.get(f"{API}/clinicians/{clinician.id}/roster", headers=as_desk, params={
            "start": at(3, 0).isoformat(), "end": at(21, 0).isoformat()}).json() if e["plan_progress"]]
    assert sorted(e["plan_progress"] for e in plan_sessions) == ["Shockwave therapy 1 of 2", "Shockwave therapy 2 of 2"]


def test_a_clinician_sees_only_their_own_roster(client, as_clinician, as_desk, staff, world):
    own = staff[Role.CLINICIAN].clinician_id
    window = {"start": at(3, 0).isoformat(), "end": at(4, 0).isoformat()}
    assert client.get(f"{API}/clinicians/{own}/roster", params=window, headers=as_clinician).status_code == 200
    other = client.get(f"{API}/clinicians/{world.dana.id}/roster", params=window, headers=as_clinician)
    assert other.status_code == 403 and "own roster" in other.json()["detail"]
    assert client.get(f"{API}/rosters/2027-03-03", headers=as_clinician).status_code == 403
    assert client.get(f"{API}/clinicians/{world.dana.id}/roster", params=window, headers=as_desk).status_code == 200
    assert client.get(f"{API}/clinicians/{world.dana.id}/roster", params=window).status_code == 401
    backwards = client.get(f"{API}/clinicians/{own}/roster", headers=as_clinician,
                           params={"start": window["end"], "end": window["start"]})
    assert backwards.status_code == 422 and "end must be after start" in backwards.text
    assert client.get(f"{API}/clinicians/999999/roster", params=window, headers=as_desk).status_code == 404


def test_the_day_board_shows_what_takes_each_resource(client, as_desk, world):
    shockwave = booked(client, as_desk, world.eswt, world.patients[0], at(3, 9), clinician_id=world.dana.id)
    held = client.post(f"{API}/holds", headers=as_desk, json={
        "service_id": world.msus.id, "patient_id": world.patients[1].id, "start": at(3, 11).isoformat()}).json()
    rows = client.get(f"{API}/day-board/2027-03-03", params={"location_id": world.midtown.id}, headers=as_desk).json()
    by_name = {row["resource"]["name"]: row for row in rows}
    assert {"Dana", "Max", "Eli", "Shockwave unit"} <= set(by_name)
    (unit_block,) = by_name["Shockwave unit"]["blocks"]
    assert unit_block["appointment_id"] == shockwave["id"]
    assert datetime.fromisoformat(unit_block["ends_at"]) == at(3, 9, 55), "buffer and cleaning included"
    held_blocks = [b for row in rows for b in row["blocks"] if b["appointment_id"] == held["id"]]
    assert held_blocks and all(b["label"].endswith("(held)") for b in held_blocks)
    assert client.get(f"{API}/day-board/2027-03-03", params={"location_id": 999999},
                      headers=as_desk).status_code == 404


def events(client, url: str) -> dict[str, object]:
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar"), response.text
    calendar = Calendar.from_ical(response.content)
    assert [tz["tzid"] for tz in calendar.walk("VTIMEZONE")] in ([], ["America/New_York"])
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


def test_the_calendar_feed_updates_cancels_and_can_be_revoked(client, as_desk, as_admin, world):
    first = booked(client, as_desk, world.eswt, world.patients[0], at(3, 9), clinician_id=world.dana.id)
    issued = client.post(f"{API}/clinicians/{world.dana.id}/calendar-feed", headers=as_admin)
    assert issued.status_code == 201
    url = issued.json()["url"]
    (event,) = events(client, url).values()
    assert event.decoded("dtstart") == at(3, 9) and event.decoded("dtend") == at(3, 9, 30)
    assert str(event["status"]) == "CONFIRMED" and "B." not in str(event["summary"]) and "A.W." in str(event["summary"])
    uid, sequences = str(event["uid"]), [int(event["sequence"])]

    moved = client.post(f"{API}/appointments/{first['id']}/reschedule", headers=as_desk,
                        json={"start": at(3, 10).isoformat(), "clinician_id": world.dana.id})
    assert moved.status_code == 200, moved.text
    sequences.append(int(events(client, url)[uid]["sequence"]))
    given_up = hold(client, as_desk, world.eswt, world.patients[1], at(4, 9), clinician_id=world.dana.id).json()
    assert client.delete(f"{API}/holds/{given_up['id']}", headers=as_desk).status_code == 200
    client.post(f"{API}/appointments/{first['id']}/cancel", headers=as_desk, json={"reason": "patient ill"})
    # the released hold was never an event: it showed as a cancelled session (found by a probe, 2026-12-01)
    (cancelled,) = events(client, url).values()
    assert str(cancelled["uid"]) == uid and str(cancelled["status"]) == "CANCELLED"
    sequences.append(int(cancelled["sequence"]))
    assert sequences[0] < sequences[1] < sequences[2], f"booked, moved and cancelled at one instant: {sequences}"

    renewed = client.post(f"{API}/clinicians/{world.dana.id}/calendar-feed", headers=as_admin).json()["url"]
    assert client.get(url).status_code == 404, "a new link revokes the old one"
    assert client.delete(f"{API}/clinicians/{world.dana.id}/calendar-feed", headers=as_admin).status_code == 204
    assert client.get(renewed).status_code == 404
    assert client.delete(f"{API}/clinicians/{world.dana.id}/calendar-feed", headers=as_admin).status_code == 404
    assert client.get("/calendar/not-a-secret.ics").status_code == 404


def test_the_feed_answers_head_and_if_none_match(client, app, as_desk, as_admin, world):
    """Calendar apps poll with HEAD or with If-None-Match; an unchanged feed is the same bytes at any time."""
    made = booked(client, as_desk, world.eswt, world.patients[0], at(3, 9), clinician_id=world.dana.id)
    url = client.post(f"{API}/clinicians/{world.dana.id}/calendar-feed", headers=as_admin).json()["url"]
    served = client.get(url)
    etag = served.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), "strong: a digest of the bytes"
    assert served.headers["cache-control"] == "private, no-cache" and "last-modified" not in served.headers

    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    same = [name for name in served.headers if name != "x-request-id"]  # each request has its own id
    assert {name: head.headers[name] for name in same} == {name: served.headers[name] for name in same}, \
        "the same headers"
    for held in (etag, f"W/{etag}", f'"older", {etag}', "*"):
        for method in (client.get, client.head):
            unchanged = method(url, headers={"If-None-Match": held})
            assert unchanged.status_code == 304 and unchanged.content == b"", held
            assert unchanged.headers["etag"] == etag and unchanged.headers["cache-control"] == "private, no-cache"
    assert client.get(url, headers={"If-None-Match": '"older"'}).status_code == 200
    assert client.head("/calendar/not-a-secret.ics").status_code == 404

    set_clock(app, NOW + timedelta(hours=1))
    assert client.get(url).content == served.content, "DTSTAMP is each event's last change, not the request's time"
    client.post(f"{API}/appointments/{made['id']}/cancel", headers=as_desk, json={"reason": "patient ill"})
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200, "changed: the old tag is stale"


def test_a_clinician_cannot_issue_another_clinician_s_feed(client, as_clinician, staff, world):
    assert client.post(f"{API}/clinicians/{world.dana.id}/calendar-feed", headers=as_clinician).status_code == 403
    own = staff[Role.CLINICIAN].clinician_id
    assert client.post(f"{API}/clinicians/{own}/calendar-feed", headers=as_clinician).status_code == 201


# Sessions of the all-night telehealth desk right before, across, in and after each of 2027's changes of clock
# in New York, and the VTIMEZONE observances that feed must carry (RFC 5545: an onset is read on the clock
# before the change, in TZOFFSETFROM; a spring-forward at 02:00 EST is DTSTART ...T020000, not T030000).
SPRING = [at(14, 1, 0), at(14, 1, 30), at(14, 3, 0), at(14, 3, 30), at(14, 4, 0)]
FALL = [at(7, 0, 30, month=11), at(7, 1, 30, month=11).replace(fold=0), at(7, 1, 0, month=11).replace(fold=1),
        at(7, 1, 30, month=11).replace(fold=1), at(7, 2, 0, month=11)]
EST, EDT = "-0500", "-0400"


@pytest.mark.parametrize("clock, sessions, changes", [
    pytest.param(at(10, 8), SPRING, [("STANDARD", "20261101T020000", EDT, EST, "EST"),
                                     ("DAYLIGHT", "20270314T020000", EST, EDT, "EDT")],
                 id="spring-forward 14 March 2027"),
    pytest.param(at(1, 8, month=11), FALL, [("DAYLIGHT", "20270314T020000", EST, EDT, "EDT"),
                                            ("STANDARD", "20271107T020000", EDT, EST, "EST")],
                 id="fall-back 7 November 2027"),
])
def test_feed_times_are_right_on_both_dst_days_in_every_parser(client, app, session, as_desk, as_admin, world,
                                                               clock, sessions, changes):
    """Every event reads back as its instant in ical.js (which knows zones only from the feed's VTIMEZONE),
    icalendar, vobject, ics and ical; the VTIMEZONE puts each change where RFC 5545 does, so a reader
    converting from UTC with it (icalendar's and vobject's reading of the definition) shows each session
    at its time on the clinic's clock. The .ics attached to the patient's message is made the same way."""
    set_clock(app, clock)
    made = [booked(client, as_desk, world.telehealth, world.patients[n % 3], start, clinician_id=world.owl.id)
            for n, start in enumerate(sessions)]
    url = client.post(f"{API}/clinicians/{world.owl.id}/calendar-feed", headers=as_admin).json()["url"]
    document = client.get(url).content

    assert changes_in(document) == changes, "from the change that set the clock in force, each onset on the " \
                                                "clock before it"

    uids = [f"appointment-{appointment['id']}@clinic-scheduler" for appointment in made]
    truth = {uid: (start.astimezone(UTC), start.astimezone(UTC) + timedelta(minutes=30))
             for uid, start in zip(uids, sessions, strict=True)}
    by_ical_js, zones = ical_js(document)
    assert by_ical_js == truth
    repeated = {uid for uid, start in zip(uids, sessions, strict=True)
                if start.utcoffset() != start.replace(fold=1 - start.fold).utcoffset()}
    assert zones == {uid: "UTC" if uid in repeated else "America/New_York" for uid in uids}, \
        "a time the clock shows twice is given in UTC, any other with the zone the feed defines"
    for parser, read in by_python_parsers(document).items():
        assert read == truth, parser
    starts = [start.astimezone(UTC) for start in sessions]
    for reader, shown in shown_on_its_clock(document, "America/New_York", starts).items():
        assert shown == [clock_of(start) for start in sessions], reader

    attachment = calendar_feed.for_patient(session, appointment_id=made[-1]["id"], now=clock)
    (event,) = Calendar.from_ical(attachment).walk("VEVENT")
    (in_feed,) = [e for e in Calendar.from_ical(document).walk("VEVENT") if e["uid"] == uids[-1]]
    assert event["sequence"] == in_feed["sequence"], "the patient's copy of the event is the same version"
    assert changes_in(attachment) == changes and ical_js(attachment)[0] == {uids[-1]: truth[uids[-1]]}


def changes_in(document: bytes) -> list[tuple[str, str, str, str, str]]:
    (vtimezone,) = Calendar.from_ical(document).walk("VTIMEZONE")
    return observances(vtimezone)
