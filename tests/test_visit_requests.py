"""Public requests: a visitor holds a real slot, the front desk confirms or declines; patients ask to move sessions."""

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import func, select

from data.tables import Appointment, AuditEntry, Patient, VisitRequest
from tests.booking_helpers import booked, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API

PUBLIC = f"{API}/public"


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    app.state.settings = app.state.settings.model_copy(update={
        "public_telehealth_service": "w_telehealth", "public_office_service": "w_msus"})
    return build_world(session)


def visitor(**extra) -> dict:
    return {"given_name": "Nora", "family_name": "Visitor", "birth_date": "1990-04-02", "phone": "+1 212 555 0100",
            "reason": "low-back pain for three weeks", **extra}


def night_slot(client) -> dict:
    """A telehealth slot at the all-night desk, where Owl is the only clinician: one request takes it."""
    slots = client.get(f"{PUBLIC}/slots", params={"kind": "telehealth"}).json()
    return next(s for s in slots if s["location_name"] == "World Night Desk" and datetime.fromisoformat(
        s["start"]).hour == 3 and datetime.fromisoformat(s["start"]) > at(4, 0))


def ask(client, slot: dict, kind="telehealth", **extra):
    return client.post(f"{PUBLIC}/requests", json={"kind": kind, "location_id": slot["location_id"],
                                                   "start": slot["start"], **visitor(**extra)})


def test_public_pages_offer_real_times_and_nothing_private(client, as_desk, world):
    services = client.get(f"{PUBLIC}/services").json()
    assert {s["kind"] for s in services} == {"telehealth", "in_office"}
    booked(client, as_desk, world.msus, world.patients[0], at(2, 9), clinician_id=world.max.id)
    slots = client.get(f"{PUBLIC}/slots", params={"kind": "in_office"}).json()
    assert slots and set(slots[0]) == {"start", "end", "location_id", "location_name"}
    assert "World" not in str([s for s in slots if s["location_name"] != "World Midtown"])
    assert client.get(f"{PUBLIC}/slots", params={"kind": "move"}).status_code == 422


def test_a_request_for_a_time_sooner_than_the_hold_lasts_is_held_until_its_start(client, world, session):
    """A request for 9:30 made at 8:00 was held (and the visitor told it was held) until 6:00 PM, the hold's usual
    ten hours, long after the session would have happened (found by a probe, 2026-12-01)."""
    soon = next(s for s in client.get(f"{PUBLIC}/slots", params={"kind": "in_office"}).json()
                if datetime.fromisoformat(s["start"]) < NOW + timedelta(hours=3))
    assert ask(client, soon, kind="in_office").status_code == 201
    hold = session.get(Appointment, session.exec(select(VisitRequest)).one().hold_id)
    assert hold.hold_expires_at == datetime.fromisoformat(soon["start"])


def test_a_request_holds_the_slot_for_everyone_else_until_the_desk_confirms(client, as_desk, world, session):
    slot = night_slot(client)
    made = ask(client, slot)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "requested" and "/request/" in body["status_url"]
    assert "Nora" not in made.text and "555" not in made.text and "1990" not in made.text
    assert slot["start"] not in {s["start"] for s in client.get(f"{PUBLIC}/slots", params={"kind": "telehealth"}).json()
                                 if s["location_name"] == "World Night Desk"}
    assert ask(client, slot, phone="+1 212 555 0199").status_code == 409

    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    assert waiting["patient"]["given_name"] == "Nora" and waiting["reason"] == "low-back pain for three weeks"
    confirmed = client.post(f"{API}/visit-requests/{waiting['id']}/confirm", headers=as_desk, json={})
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    token = body["status_url"].rsplit("/", 1)[1]
    assert client.get(f"{PUBLIC}/requests/{token}").json()["status"] == "confirmed"
    appointment = session.exec(select(Appointment).where(Appointment.status == "booked")).one()
    assert appointment.patient_id == waiting["patient"]["id"]
    assert client.post(f"{API}/visit-requests/{waiting['id']}/decline", headers=as_desk,
                       json={"reason": "late"}).status_code == 409


def test_the_desk_matches_a_visitor_to_an_existing_patient(client, as_desk, world, session):
    known = world.patients[0]
    made = ask(client, night_slot(client), given_name=known.given_name, family_name=known.family_name,
               birth_date=known.birth_date.isoformat())
    provisional = made.json()
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    assert [p["id"] for p in waiting["possible_matches"]] == [known.id]
    client.post(f"{API}/visit-requests/{waiting['id']}/confirm", headers=as_desk,
                json={"patient_id": known.id}).raise_for_status()
    appointment = session.exec(select(Appointment).where(Appointment.status == "booked")).one()
    assert appointment.patient_id == known.id and appointment.resource_ids("patient") == [known.id]
    assert session.get(Patient, waiting["patient"]["id"]) is None, "the provisional record is gone"
    assert provisional["status"] == "requested"
    (switch,) = session.exec(select(AuditEntry).where(AuditEntry.action == "change_patient")).all()
    assert (switch.before["patient_id"], switch.after["patient_id"]) == (waiting["patient"]["id"], known.id)
    assert switch.appointment_id == appointment.id and switch.actor == "t_desk"


def test_a_visitor_is_not_matched_to_a_patient_who_is_busy_then(client, as_desk, world, session):
    known = world.patients[0]
    for slot in client.get(f"{PUBLIC}/slots", params={"kind": "in_office"}).json():
        busy = client.post(f"{API}/appointments", headers=as_desk, json={
            "service_id": world.rehab.id, "patient_id": known.id, "start": slot["start"]})
        if busy.status_code == 201:
            break
    assert busy.status_code == 201, "the known patient is booked for rehab at a public in-office time"
    assert ask(client, slot, kind="in_office").status_code == 201
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    refused = client.post(f"{API}/visit-requests/{waiting['id']}/confirm", headers=as_desk,
                          json={"patient_id": known.id})
    assert refused.status_code == 409 and f"already has appointment {busy.json()['id']}" in refused.json()["detail"]
    (still,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    assert still["patient"]["id"] == waiting["patient"]["id"] and still["status"] == "requested"
    hold = session.get(Appointment, session.get(VisitRequest, waiting["id"]).hold_id)
    assert hold.patient_id == waiting["patient"]["id"] and hold.resource_ids("patient") == [hold.patient_id]


def test_a_request_s_hold_changes_only_through_the_request(client, as_desk, world, session):
    token = ask(client, night_slot(client)).json()["status_url"].rsplit("/", 1)[1]
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    hold_id = session.get(VisitRequest, waiting["id"]).hold_id
    fhir_hold = client.get(f"/fhir/Appointment/{hold_id}", headers=as_desk).json()
    for bypass in (
        client.post(f"{API}/appointments", headers=as_desk, json={"hold_id": hold_id}),
        client.delete(f"{API}/holds/{hold_id}", headers=as_desk),
        client.post(f"{API}/appointments/{hold_id}/cancel", headers=as_desk, json={"reason": "tidy up"}),
        client.put(f"/fhir/Appointment/{hold_id}", headers=as_desk, json={**fhir_hold, "status": "booked"}),
    ):
        assert bypass.status_code == 409 and f"public request {waiting['id']}" in bypass.text, bypass.text
    assert client.get(f"{PUBLIC}/requests/{token}").json()["status"] == "requested"
    assert session.get(Appointment, hold_id).status == "pending"
    client.post(f"{API}/visit-requests/{waiting['id']}/confirm", headers=as_desk, json={}).raise_for_status()
    assert client.get(f"{PUBLIC}/requests/{token}").json()["status"] == "confirmed"


def test_undecided_requests_hold_at_most_a_share_of_a_day(client, app, world):
    app.state.settings = app.state.settings.model_copy(update={
        "public_hold_share": 0.25, "open_requests_per_address": 100, "requests_per_address_hour": 100})
    slots = client.get(f"{PUBLIC}/slots", params={"kind": "in_office"}).json()
    day = slots[0]["start"][:10]
    of_day = [slot for slot in slots if slot["start"][:10] == day and slot["location_id"] == slots[0]["location_id"]]
    assert len(of_day) >= 8, "a day with enough public times to share"
    def free_of_day() -> list[dict]:
        return [s for s in client.get(f"{PUBLIC}/slots", params={"kind": "in_office"}).json()
                if s["start"][:10] == day and s["location_id"] == slots[0]["location_id"]]

    accepted, refusal = 0, None
    for number in range(len(of_day)):
        answer = ask(client, free_of_day()[0], kind="in_office", phone=f"+1 212 555 {1000 + number}")
        if answer.status_code != 201:
            refusal = answer
            break
        accepted += 1
    assert refusal is not None and refusal.status_code == 409 and "high demand" in refusal.json()["detail"]
    free_now = len(free_of_day())
    assert 1 <= accepted <= 0.25 * (free_now + accepted) + 1, "undecided requests hold about a quarter at most"
    assert free_now >= 2 * accepted, "real visitors still see most of the day's times"


def test_one_address_may_keep_only_a_few_requests_open(client, world):
    by_day = {}
    for slot in client.get(f"{PUBLIC}/slots", params={"kind": "in_office"}).json():
        by_day.setdefault(slot["start"][:10], slot)
    days = list(by_day.values())
    for number in range(3):
        assert ask(client, days[number], kind="in_office", phone=f"+1 212 555 {2000 + number}").status_code == 201
    fourth = ask(client, days[3], kind="in_office", phone="+1 212 555 2999")
    assert fourth.status_code == 429 and "This network already has 3 requests" in fourth.json()["detail"]


def test_declining_frees_the_slot_and_tells_the_visitor_why(client, as_desk, world):
    slot = night_slot(client)
    token = ask(client, slot).json()["status_url"].rsplit("/", 1)[1]
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    client.post(f"{API}/visit-requests/{waiting['id']}/decline", headers=as_desk,
                json={"reason": "please call us first"}).raise_for_status()
    status = client.get(f"{PUBLIC}/requests/{token}").json()
    assert status["status"] == "declined" and status["decline_reason"] == "please call us first"
    assert slot["start"] in {s["start"] for s in client.get(f"{PUBLIC}/slots", params={"kind": "telehealth"}).json()}


def test_an_expired_request_frees_its_slot_at_once(client, app, as_desk, world):
    slot = night_slot(client)
    token = ask(client, slot).json()["status_url"].rsplit("/", 1)[1]
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    set_clock(app, NOW + timedelta(hours=24, minutes=1))
    assert client.get(f"{PUBLIC}/requests/{token}").json()["status"] == "expired"
    assert client.get(f"{API}/visit-requests", headers=as_desk).json() == []
    late = client.post(f"{API}/visit-requests/{waiting['id']}/confirm", headers=as_desk, json={})
    assert late.status_code == 410 and "expired" in late.json()["detail"]
    assert slot["start"] in {s["start"] for s in client.get(f"{PUBLIC}/slots", params={"kind": "telehealth"}).json()}


def test_rate_limits_and_the_open_request_cap_bite(client, app, world):
    by_day = {}
    for slot in client.get(f"{PUBLIC}/slots", params={"kind": "in_office"}).json():
        by_day.setdefault(slot["start"][:10], slot)
    slots = list(by_day.values())  # one a day, so the requests never compete for a clinician
    assert ask(client, slots[0], kind="in_office").status_code == 201
    assert ask(client, slots[1], kind="in_office").status_code == 201
    capped = ask(client, slots[2], kind="in_office")
    assert capped.status_code == 429 and "already has 2 requests waiting" in capped.json()["detail"]
    app.state.settings = app.state.settings.model_copy(update={"requests_per_address_hour": 3})
    assert ask(client, slots[3], kind="in_office", phone="+1 212 555 0101").status_code == 201
    limited = ask(client, slots[4], kind="in_office", phone="+1 212 555 0102")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "this network" in limited.json()["detail"]


def test_bad_requests_say_what_is_wrong_and_write_nothing(client, world, session):
    slot = night_slot(client)
    before = session.exec(select(func.count()).select_from(Patient)).one()
    for body, words in [
        (visitor(phone=None), "phone number or an e-mail"),
        (visitor(email="not-an-email"), "email"),
        (visitor(reason="x" * 501), "reason"),
        (visitor(birth_date="2999-01-01"), "birth_date"),
    ]:
        response = client.post(f"{PUBLIC}/requests", json={"kind": "telehealth", "location_id": slot["location_id"],
                                                           "start": slot["start"], **body})
        assert response.status_code == 422 and words in response.text, response.text
    off_grid = ask(client, {**slot, "start": slot["start"].replace(":00-", ":07-")})
    assert off_grid.status_code in (409, 422)
    assert session.exec(select(func.count()).select_from(Patient)).one() == before
    assert session.exec(select(func.count()).select_from(VisitRequest)).one() == 0
    assert client.get(f"{PUBLIC}/requests/{'x' * 32}").status_code == 404
    assert client.get(f"{PUBLIC}/requests/short").status_code == 422


def test_a_patient_asks_to_move_a_session_and_the_desk_confirms(client, as_desk, world, session):
    patient = world.patients[1]
    session_booked = booked(client, as_desk, world.msus, patient, at(3, 9), clinician_id=world.max.id)
    link = client.post(f"{API}/patients/{patient.id}/link", headers=as_desk)
    assert link.status_code == 201
    token = link.json()["url"].rsplit("/", 1)[1]
    (upcoming,) = client.get(f"{PUBLIC}/patients/{token}/sessions").json()
    assert upcoming["appointment_id"] == session_booked["id"] and not upcoming["move_requested"]
    options = client.get(f"{PUBLIC}/patients/{token}/sessions/{session_booked['id']}/slots").json()
    target = next(o for o in options if datetime.fromisoformat(o["start"]) >= at(4, 10))
    asked = client.post(f"{PUBLIC}/patients/{token}/moves", json={
        "appointment_id": session_booked["id"], "location_id": target["location_id"], "start": target["start"]})
    assert asked.status_code == 201, asked.text
    assert client.get(f"{PUBLIC}/patients/{token}/sessions").json()[0]["move_requested"] is True
    again = next(o for o in options if datetime.fromisoformat(o["start"]) >= at(5, 10))
    second = client.post(f"{PUBLIC}/patients/{token}/moves", json={
        "appointment_id": session_booked["id"], "location_id": again["location_id"], "start": again["start"]})
    assert second.status_code == 409 and "already waiting" in second.json()["detail"], "one open move per session"
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    assert waiting["kind"] == "move" and waiting["moves_appointment_id"] == session_booked["id"]
    client.post(f"{API}/visit-requests/{waiting['id']}/confirm", headers=as_desk, json={}).raise_for_status()
    moved = client.get(f"{API}/appointments/{session_booked['id']}", headers=as_desk).json()
    assert moved["status"] == "booked" and moved["start"] == target["start"]
    status = client.get(f"{PUBLIC}/requests/{asked.json()['status_url'].rsplit('/', 1)[1]}").json()
    assert status["status"] == "confirmed" and status["start"] == target["start"]

    other = world.patients[2]
    foreign = booked(client, as_desk, world.msus, other, at(5, 9), clinician_id=world.max.id)
    assert client.get(f"{PUBLIC}/patients/{token}/sessions/{foreign['id']}/slots").status_code == 404
    assert client.delete(f"{API}/patients/{patient.id}/link", headers=as_desk).status_code == 204
    assert client.get(f"{PUBLIC}/patients/{token}/sessions").status_code == 404


def test_a_patient_moves_a_session_within_its_own_clinic(client, as_desk, world, session):
    """A telehealth session at Midtown was offered the Night Desk's times as well, and a move there was held and
    confirmed (found by a probe, 2026-12-01): another clinic is the desk's to arrange."""
    patient = world.patients[1]
    made = booked(client, as_desk, world.telehealth, patient, at(3, 9), clinician_id=world.max.id)
    token = client.post(f"{API}/patients/{patient.id}/link", headers=as_desk).json()["url"].rsplit("/", 1)[1]
    options = client.get(f"{PUBLIC}/patients/{token}/sessions/{made['id']}/slots").json()
    assert options and {o["location_id"] for o in options} == {world.midtown.id}
    elsewhere = night_slot(client)
    refused = client.post(f"{PUBLIC}/patients/{token}/moves", json={
        "appointment_id": made["id"], "location_id": elsewhere["location_id"], "start": elsewhere["start"]})
    assert refused.status_code == 422 and "same clinic" in refused.text, refused.text
    assert client.get(f"{API}/visit-requests", headers=as_desk).json() == []


def test_a_plan_s_session_is_offered_only_times_within_its_plan(client, as_desk, world, session):
    """The patient's page offered every free time of a fortnight for a session of a course 5-10 days apart, and the
    desk's confirmation then moved it out of the course (found by a probe, 2026-12-02)."""
    patient = world.patients[1]
    plan = client.post(f"{API}/plans", headers=as_desk, json={
        "patient_id": patient.id, "location_id": world.midtown.id, "earliest_start": "2027-03-02",
        "latest_end": "2027-03-31", "lines": [{"service_id": world.eswt.id, "count": 2, "min_gap_days": 5,
                                                "max_gap_days": 10}]}).json()
    client.post(f"{API}/plans/{plan['id']}/proposal", headers=as_desk).raise_for_status()
    sessions = client.post(f"{API}/plans/{plan['id']}/confirm", headers=as_desk).json()["sessions"]
    first, second = sorted((s["appointment"] for s in sessions), key=lambda a: a["start"])
    token = client.post(f"{API}/patients/{patient.id}/link", headers=as_desk).json()["url"].rsplit("/", 1)[1]
    options = client.get(f"{PUBLIC}/patients/{token}/sessions/{second['id']}/slots").json()
    first_day = datetime.fromisoformat(first["start"]).date()
    days = {datetime.fromisoformat(o["start"]).date() for o in options}
    assert days and all(5 <= (day - first_day).days <= 10 for day in days), sorted(days)
    refused = client.post(f"{PUBLIC}/patients/{token}/moves", json={
        "appointment_id": second["id"], "location_id": world.midtown.id,
        "start": (datetime.fromisoformat(first["start"]) + timedelta(days=1)).isoformat()})
    assert refused.status_code == 422 and "course of treatment" in refused.text, refused.text


def test_cancelling_a_session_withdraws_its_waiting_move(client, as_desk, world, session):
    patient = world.patients[1]
    session_booked = booked(client, as_desk, world.msus, patient, at(3, 9), clinician_id=world.max.id)
    token = client.post(f"{API}/patients/{patient.id}/link", headers=as_desk).json()["url"].rsplit("/", 1)[1]
    target = next(o for o in client.get(f"{PUBLIC}/patients/{token}/sessions/{session_booked['id']}/slots").json()
                  if datetime.fromisoformat(o["start"]) >= at(4, 10))
    asked = client.post(f"{PUBLIC}/patients/{token}/moves", json={
        "appointment_id": session_booked["id"], "location_id": target["location_id"], "start": target["start"]})
    assert asked.status_code == 201
    client.post(f"{API}/appointments/{session_booked['id']}/cancel", headers=as_desk,
                json={"reason": "the patient called"}).raise_for_status()
    status = client.get(f"{PUBLIC}/requests/{asked.json()['status_url'].rsplit('/', 1)[1]}").json()
    assert status["status"] == "declined" and status["decline_reason"] == "the session was cancelled"
    assert client.get(f"{API}/visit-requests", headers=as_desk).json() == []
    assert target["start"] in {o["start"] for o in client.get(f"{PUBLIC}/slots", params={"kind": "in_office"}).json()}


def test_the_desk_reads_a_request_s_times_with_the_location_s_offset(client, as_desk, world):
    slot = night_slot(client)
    ask(client, slot).raise_for_status()
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    assert waiting["start"] == slot["start"], "a 03:00 request in New York reads 03:00, not 08:00Z"
    assert {field: waiting[field][-6:] for field in ("start", "end", "hold_expires_at", "created_at")} == {
        "start": "-05:00", "end": "-05:00", "hold_expires_at": "-05:00", "created_at": "-05:00"}


def test_the_status_page_gets_the_hold_s_end_and_the_place_it_is_written_in(client, world):
    made = ask(client, night_slot(client)).json()
    assert made["hold_expires_at"] == (NOW + timedelta(hours=24)).isoformat(), "clinic time, with its offset"
    token = made["status_url"].rsplit("/", 1)[1]
    assert client.get(f"{PUBLIC}/requests/{token}").json()["hold_expires_at"] == made["hold_expires_at"]
    places = {place["id"]: place for place in client.get(f"{PUBLIC}/locations").json()}
    assert places[made["location_id"]] == {"id": world.night_desk.id, "name": "World Night Desk",
                                           "time_zone": "America/New_York", "locale": "en-US"}


def test_every_free_time_of_the_public_horizon_is_offered_once(client, world):
    slots = client.get(f"{PUBLIC}/slots", params={"kind": "telehealth"}).json()
    places = [(slot["location_id"], slot["start"]) for slot in slots]
    assert len(places) == len(set(places)), "one time per place, however many clinicians are free then"
    starts = {}
    for slot in slots:
        starts.setdefault(slot["location_id"], set()).add(datetime.fromisoformat(slot["start"]))
    wednesday = {start for start in starts[world.midtown.id] if start.date() == date(2027, 3, 10)}
    assert wednesday == {at(10, 8) + timedelta(minutes=15 * n) for n in range(47)}, "08:00 to 19:30, each quarter"
    assert max(starts[world.night_desk.id]) == at(15, 5, 30), "the fourteenth night is offered too"


def test_visitors_are_refused_in_sentences_meant_for_them(client, world):
    slot = night_slot(client)
    refused = client.post(f"{PUBLIC}/requests", json={"kind": "telehealth", "location_id": slot["location_id"],
                                                     "start": slot["start"], **visitor(phone=None)})
    assert refused.status_code == 422
    assert refused.json()["detail"] == [{"loc": ["body"], "type": "contact_missing",
                                         "msg": "Please give a phone number or an e-mail address so the clinic "
                                                "can reach you."}]
    assert ask(client, slot).status_code == 201
    taken = ask(client, slot, phone="+1 212 555 0199")
    assert taken.status_code == 409
    assert taken.json()["detail"] == "That time is no longer free; please choose another.", "not who was busy"


def test_a_request_whose_clinician_took_that_time_off_is_declined_not_confirmed(client, as_desk, as_admin, world):
    """Owl takes the night off while Nora's request waits: confirming it is a 409 that tells the desk what changed
    and what it can do (decline the request: a request's hold cannot be released), and nothing is booked."""
    slot = night_slot(client)
    assert ask(client, slot).status_code == 201
    (waiting,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    start = datetime.fromisoformat(slot["start"])
    assert client.patch(f"{API}/clinicians/{world.owl.id}", headers=as_admin, json={"exceptions": [{
        "kind": "time_off", "starts_at": (start - timedelta(hours=1)).isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat()}]}).status_code == 200
    refused = client.post(f"{API}/visit-requests/{waiting['id']}/confirm", headers=as_desk, json={})
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert f"the time held for request {waiting['id']} can no longer be booked; decline the request" in detail
    assert "Owl" in detail and "no longer free then" in detail
    (still,) = client.get(f"{API}/visit-requests", headers=as_desk).json()
    assert (still["id"], still["status"]) == (waiting["id"], "requested"), "nothing was booked"
    declined = client.post(f"{API}/visit-requests/{waiting['id']}/decline", headers=as_desk,
                           json={"reason": "our clinician is away that night"})
    assert declined.status_code == 200, declined.text
