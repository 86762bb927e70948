"""FHIR versioned writes: an update changes what it says or is refused, never answers 200 for a change it dropped.

meta.versionId is the row's version, with ETag and Last-Modified; If-Match with another version is a 412 and
writes nothing; If-None-Match answers 304 while current; vread serves the current version; If-None-Exist makes a
create conditional. A new start (or Practitioner, room) moves a booked appointment through the booking code's
reschedule; what cannot change is a 422 naming the element. Served on PostgreSQL: two updates made on one version
race through two server processes and exactly one wins; an independent client (fhirpy) makes versioned updates.
"""

from collections import Counter
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound
from sqlmodel import func, select

from data.db import make_engine, session_scope
from data.tables import Appointment, AuditEntry, Location, PatientMessage
from tests.booking_helpers import booked, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API
from tests.servers import clean_environment, clinic_script, free_port, launch
from tests.test_fhir import valid
from tests.test_races import SECRET_KEY, fire_together, prepare_clinic, sign_in


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


def slot_id(world, start: datetime, clinician, service=None) -> str:
    service = service or world.msus
    return f"s{service.id}-l{world.midtown.id}-c{clinician.id}-t{int(start.timestamp()) // 60}"


def fhir_book(client, headers, world, start: datetime, clinician=None, patient=None, status="booked", **extra):
    body = {"resourceType": "Appointment", "status": status,
            "slot": [{"reference": f"Slot/{slot_id(world, start, clinician or world.max)}"}],
            "participant": [{"actor": {"reference": f"Patient/{(patient or world.patients[0]).id}"},
                             "status": "accepted"}]}
    return client.post("/fhir/Appointment", headers={**headers, **extra}, json=body)


def made(response) -> dict:
    assert response.status_code in (200, 201), response.text
    return valid(response.json())


def stored(session, ident) -> Appointment:
    session.expire_all()
    return session.get(Appointment, int(ident))


def practitioner(resource: dict) -> str:
    return next(p["actor"]["reference"] for p in resource["participant"]
                if p["actor"]["reference"].startswith("Practitioner/"))


def test_a_new_start_moves_the_appointment_through_the_booking_code(client, as_desk, as_admin, app, session, world):
    appointment = made(fhir_book(client, as_desk, world, at(3, 9)))
    later = at(3, 11)
    moved = client.put(f"/fhir/Appointment/{appointment['id']}", headers=as_desk, json={
        **appointment, "start": later.isoformat(), "end": (later + timedelta(minutes=45)).isoformat()})
    assert moved.status_code == 200, moved.text
    assert datetime.fromisoformat(valid(moved.json())["start"]) == later
    assert moved.json()["slot"] == [{"reference": f"Slot/{slot_id(world, later, world.max)}"}]
    rest = client.get(f"{API}/appointments/{appointment['id']}", headers=as_desk).json()
    assert datetime.fromisoformat(rest["start"]) == later, "what FHIR answered is what is stored"
    log = client.get(f"{API}/audit", headers=as_admin, params={"appointment_id": appointment["id"]}).json()
    assert sorted(entry["action"] for entry in log["items"]) == ["book", "reschedule"]
    assert booked(client, as_desk, world.msus, world.patients[1], at(3, 9), clinician_id=world.max.id), \
        "the old time is free again"

    dana = client.put(f"/fhir/Appointment/{appointment['id']}", headers=as_desk, json={
        **moved.json(), "participant": [{"actor": {"reference": f"Practitioner/{world.dana.id}"},
                                         "status": "accepted"}]})
    assert dana.status_code == 200, dana.text
    assert practitioner(dana.json()) == f"Practitioner/{world.dana.id}"
    assert dana.json()["start"] == moved.json()["start"]
    assert stored(session, appointment["id"]).version == 3, \
        "a change of clinician alone, at the same instant, is a new version (only allocation rows changed)"


def test_a_move_onto_a_taken_time_is_refused_and_changes_nothing(client, as_desk, session, world):
    appointment = made(fhir_book(client, as_desk, world, at(3, 9)))
    made(fhir_book(client, as_desk, world, at(3, 11), patient=world.patients[1]))
    taken = client.put(f"/fhir/Appointment/{appointment['id']}", headers=as_desk, json={
        **appointment, "start": at(3, 11).isoformat(), "end": at(3, 11, 45).isoformat()})
    assert taken.status_code == 409, taken.text
    assert valid(taken.json())["issue"][0]["code"] == "conflict"
    assert stored(session, appointment["id"]).starts_at == at(3, 9)
    hold = made(fhir_book(client, as_desk, world, at(4, 9), status="pending"))
    pending = client.put(f"/fhir/Appointment/{hold['id']}", headers=as_desk,
                         json={**hold, "start": at(4, 10).isoformat(), "end": at(4, 10, 45).isoformat()})
    assert pending.status_code == 409 and "only booked ones can be moved" in pending.text


@pytest.mark.parametrize("change, element", [
    (lambda a, w: {"participant": [{"actor": {"reference": f"Patient/{w.patients[1].id}"}, "status": "accepted"}]},
     "participant"),
    (lambda a, w: {"serviceType": [{"coding": [{"system": "urn:clinic-scheduler:service", "code": "w_eswt"}]}]},
     "serviceType"),
    (lambda a, w: {"comment": "bring the scan"}, "comment"),
    (lambda a, w: {"minutesDuration": 60}, "minutesDuration"),
    (lambda a, w: {"slot": [{"reference": f"Slot/{slot_id(w, at(3, 14), w.max)}"}]}, "slot"),
    (lambda a, w: {"end": at(3, 10).isoformat()}, "end"),
    (lambda a, w: {"status": "cancelled", "start": at(3, 14).isoformat(), "end": at(3, 14, 45).isoformat()},
     "status"),
    (lambda a, w: {"cancelationReason": {"text": "not cancelled"}}, "cancelationReason"),
    (lambda a, w: {"participant": [{"actor": {"reference": f"Location/{w.night_desk.id}"}, "status": "accepted"}]},
     "participant"),
], ids=["patient", "service", "unkept element", "length", "slot", "end", "status and time", "reason", "clinic"])
def test_what_cannot_change_is_a_422_naming_it(client, as_desk, session, world, change, element):
    appointment = made(fhir_book(client, as_desk, world, at(3, 9)))
    refused = client.put(f"/fhir/Appointment/{appointment['id']}", headers=as_desk,
                         json={**appointment, **change(appointment, world)})
    assert refused.status_code == 422, refused.text
    issue = valid(refused.json())["issue"][0]
    assert issue["code"] == "invalid" and issue["expression"] == [element], issue
    assert stored(session, appointment["id"]).version == 1, "nothing was written"


def test_status_changes_reuse_the_rest_use_cases(client, as_desk, app, session, world):
    first = made(fhir_book(client, as_desk, world, at(3, 9)))
    second = made(fhir_book(client, as_desk, world, at(3, 11), patient=world.patients[1]))
    set_clock(app, at(3, 8))
    too_early = client.put(f"/fhir/Appointment/{first['id']}", headers=as_desk, json={**first, "status": "fulfilled"})
    assert too_early.status_code == 409, too_early.text
    arrived = made(client.put(f"/fhir/Appointment/{first['id']}", headers=as_desk, json={**first, "status": "arrived"}))
    assert arrived["status"] == "arrived" and arrived["meta"]["versionId"] == "2"
    set_clock(app, at(3, 12))
    done = made(client.put(f"/fhir/Appointment/{first['id']}", headers=as_desk,
                           json={**arrived, "status": "fulfilled"}))
    assert done["status"] == "fulfilled"
    absent = made(client.put(f"/fhir/Appointment/{second['id']}", headers=as_desk, json={**second, "status": "noshow"}))
    assert absent["status"] == "noshow"
    freed = stored(session, second["id"]).allocations
    assert freed and not any(allocation.live for allocation in freed), "a no-show frees the resources"
    actions = session.exec(select(AuditEntry.action).where(AuditEntry.appointment_id.in_(
        [int(first["id"]), int(second["id"])]))).all()
    assert Counter(actions) == {"book": 2, "check_in": 1, "complete": 1, "no_show": 1}


def test_versions_etags_and_preconditions(client, as_desk, session, world):
    created = fhir_book(client, as_desk, world, at(3, 9), status="pending")
    hold = made(created)
    assert hold["meta"]["versionId"] == "1" and created.headers["etag"] == 'W/"1"'
    assert created.headers["location"].endswith(f"/fhir/Appointment/{hold['id']}/_history/1")
    last_updated = datetime.fromisoformat(hold["meta"]["lastUpdated"])
    assert parsedate_to_datetime(created.headers["last-modified"]) == last_updated.replace(microsecond=0)
    path = f"/fhir/Appointment/{hold['id']}"

    booked_now = client.put(path, headers={**as_desk, "If-Match": 'W/"1"'}, json={**hold, "status": "booked"})
    assert made(booked_now)["meta"]["versionId"] == "2" and booked_now.headers["etag"] == 'W/"2"'
    stale = client.put(path, headers={**as_desk, "If-Match": 'W/"1"'}, json={**hold, "status": "cancelled"})
    assert stale.status_code == 412, stale.text
    issue = valid(stale.json())["issue"][0]
    assert issue["code"] == "conflict" and "is at version 2, not 1" in issue["diagnostics"]
    assert stored(session, hold["id"]).status == "booked", "nothing was written"
    assert client.put(path, headers={**as_desk, "If-Match": "W/\"2\", W/\"7\""},
                      json={**hold, "status": "cancelled"}).json()["status"] == "cancelled"
    assert client.put(path, headers={**as_desk, "If-Match": "version two"}, json=hold).status_code == 400

    read = client.get(path, headers=as_desk)
    assert read.headers["etag"] == 'W/"3"' and made(read)["meta"]["versionId"] == "3"
    assert client.get(path, headers={**as_desk, "If-None-Match": 'W/"3"'}).status_code == 304
    assert client.get(path, headers={**as_desk, "If-None-Match": 'W/"2"'}).status_code == 200
    assert made(client.get(f"{path}/_history/3", headers=as_desk))["id"] == hold["id"]
    older = client.get(f"{path}/_history/1", headers=as_desk)
    assert older.status_code == 404 and "only the current version, 3" in older.json()["issue"][0]["diagnostics"]
    assert client.get(f"{path}/_history/latest", headers=as_desk).status_code == 400


def test_every_write_is_one_version(client, as_desk, as_admin, app, session, world):
    """A desk move after the patient confirmed, and booking a hold after its service was lengthened, each counted
    two versions (a second UPDATE after the move's), so a client holding the version just before the write got a
    412 it could not explain; the patient's confirmation kept Last-Modified (found by a probe)."""
    patient = world.patients[0]
    session_booked = booked(client, as_desk, world.msus, patient, at(3, 9), clinician_id=world.max.id)
    token = client.post(f"{API}/patients/{patient.id}/link", headers=as_desk).json()["url"].rsplit("/", 1)[1]
    set_clock(app, NOW + timedelta(minutes=5))
    confirmed = client.post(f"{API}/public/patients/{token}/sessions/{session_booked['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    after_confirm = stored(session, session_booked["id"])
    assert after_confirm.version == 2 and after_confirm.updated_at == NOW + timedelta(minutes=5)
    moved = client.post(f"{API}/appointments/{session_booked['id']}/reschedule", headers=as_desk,
                        json={"start": at(4, 9).isoformat()})
    assert moved.status_code == 200, moved.text
    after_move = stored(session, session_booked["id"])
    assert after_move.version == 3 and after_move.patient_confirmed_at is None

    held = client.post(f"{API}/holds", headers=as_desk, json={"service_id": world.msus.id, "patient_id": patient.id,
                                                               "start": at(5, 9).isoformat()}).json()
    lengthened = client.patch(f"{API}/services/{world.msus.id}", headers=as_admin, json={"duration_minutes": 60})
    assert lengthened.status_code == 200, lengthened.text
    made_booking = client.post(f"{API}/appointments", headers=as_desk, json={"hold_id": held["id"]})
    assert made_booking.status_code == 201, made_booking.text
    assert made_booking.json()["end"] == at(5, 10).isoformat(), "it holds what the service takes now"
    assert stored(session, held["id"]).version == 2


def test_a_move_given_only_a_start_stays_at_its_clinic(client, as_desk, session, world):
    """Searched at every clinic, a telehealth session booked at Midtown was moved to the Night Desk, whose clinician
    works at 3 AM, and the patient told so (found by a probe). Another clinic is a new booking there."""
    call = booked(client, as_desk, world.telehealth, world.patients[0], at(2, 9))
    refused = client.post(f"{API}/appointments/{call['id']}/reschedule", headers=as_desk,
                          json={"start": at(3, 3).isoformat()})
    assert refused.status_code == 409 and "World Midtown" in refused.text, refused.text
    assert stored(session, call["id"]).location_id == world.midtown.id


def test_a_move_to_where_the_session_already_is_writes_and_tells_nothing(client, as_desk, session, world):
    """Two desk users moving one session to the same time both wrote a move; the second swapped its clinician and
    room, and the patient was told "moved from 2:45 PM to 2:45 PM" (found by a probe)."""
    appointment = booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    moved = client.post(f"{API}/appointments/{appointment['id']}/reschedule", headers=as_desk,
                        json={"start": at(4, 9).isoformat()})
    assert moved.status_code == 200, moved.text
    before = (stored(session, appointment["id"]).version, _audited(session), _messages(session))
    again = client.post(f"{API}/appointments/{appointment['id']}/reschedule", headers=as_desk,
                        json={"start": at(4, 9).isoformat()})
    assert again.status_code == 200 and again.json() == moved.json(), again.text
    assert (stored(session, appointment["id"]).version, _audited(session), _messages(session)) == before


def test_a_screen_left_open_changes_only_what_it_shows(client, as_desk, session, world):
    """A stale schedule cancelled a session a colleague had just moved to another time (found by a probe). The web
    app sends the version it shows as If-Match; another version is a 412 and nothing is written."""
    appointment = booked(client, as_desk, world.msus, world.patients[0], at(3, 9), clinician_id=world.max.id)
    shown = appointment["version"]
    moved = client.post(f"{API}/appointments/{appointment['id']}/reschedule", headers=as_desk,
                        json={"start": at(4, 9).isoformat()})
    assert moved.json()["version"] == shown + 1
    for method, path, body in (("POST", "cancel", {"reason": "stale screen"}), ("POST", "reschedule", {
            "start": at(5, 9).isoformat()}), ("POST", "no-show", None)):
        stale = client.request(method, f"{API}/appointments/{appointment['id']}/{path}", json=body,
                               headers={**as_desk, "If-Match": f'W/"{shown}"'})
        assert stale.status_code == 412 and "changed since you read it" in stale.text, stale.text
    assert client.get(f"{API}/appointments/{appointment['id']}", headers=as_desk).json() == moved.json()
    current = client.post(f"{API}/appointments/{appointment['id']}/cancel", json={"reason": "patient asked"},
                          headers={**as_desk, "If-Match": f'W/"{shown + 1}"'})
    assert current.status_code == 200 and current.json()["status"] == "cancelled", current.text
    other = booked(client, as_desk, world.msus, world.patients[1], at(5, 9), clinician_id=world.max.id)
    screen = client.get(f"{API}/schedule", headers=as_desk, params={"location_id": world.midtown.id,
                                                                    "day": "2027-03-05"})
    assert screen.status_code == 200, screen.text
    assert [(s["appointment_id"], s["version"]) for s in screen.json()["sessions"]] == [(other["id"], 1)]


def test_a_create_s_start_end_and_length_must_be_the_slot_s(client, as_desk, session, world):
    """They were ignored: a client sending another start (or 240 minutes) with a Slot was answered 201 for the
    Slot's time and believed it had booked its own (found by a probe)."""
    start = at(3, 9)
    body = {"resourceType": "Appointment", "status": "booked",
            "slot": [{"reference": f"Slot/{slot_id(world, start, world.max)}"}],
            "participant": [{"actor": {"reference": f"Patient/{world.patients[0].id}"}, "status": "accepted"}]}
    for element, value in (("start", at(3, 10).isoformat()), ("end", (start + timedelta(minutes=30)).isoformat()),
                           ("minutesDuration", 240), ("minutesDuration", "45"), ("start", 1.5)):
        refused = client.post("/fhir/Appointment", headers=as_desk, json={**body, element: value})
        assert refused.status_code == 422 and element in refused.text, (element, refused.text)
    assert session.exec(select(func.count()).select_from(Appointment)).one() == 0
    agreeing = {**body, "start": start.isoformat(), "end": (start + timedelta(minutes=45)).isoformat(),
                "minutesDuration": 45}
    assert client.post("/fhir/Appointment", headers=as_desk, json=agreeing).status_code == 201


def _audited(session) -> int:
    return session.exec(select(func.count()).select_from(AuditEntry)).one()


def _messages(session) -> int:
    return session.exec(select(func.count()).select_from(PatientMessage)).one()


def test_if_none_exist_makes_a_create_conditional(client, as_desk, session, world):
    patient = f"Patient/{world.patients[0].id}"
    criteria = {"If-None-Exist": f"patient={patient}&date=2027-03-03"}
    first = fhir_book(client, as_desk, world, at(3, 9), **criteria)
    assert first.status_code == 201, first.text
    again = fhir_book(client, as_desk, world, at(3, 14), **criteria)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"], again.text
    assert again.headers["etag"] == 'W/"1"'
    assert session.exec(select(func.count()).select_from(Appointment)).one() == 1, "nothing new was booked"
    made(fhir_book(client, as_desk, world, at(4, 9)))
    several = fhir_book(client, as_desk, world, at(5, 9), **{"If-None-Exist": f"patient={patient}"})
    assert several.status_code == 412 and "2 Appointment resources match" in several.text
    assert fhir_book(client, as_desk, world, at(5, 9), **{"If-None-Exist": "colour=blue"}).status_code == 400
    assert session.exec(select(func.count()).select_from(Appointment)).one() == 2


def test_an_appointment_names_the_slot_it_takes(client, as_desk, world):
    via_fhir = made(fhir_book(client, as_desk, world, at(3, 9)))
    assert via_fhir["slot"] == [{"reference": f"Slot/{slot_id(world, at(3, 9), world.max)}"}]
    via_rest = booked(client, as_desk, world.msus, world.patients[1], at(3, 9), clinician_id=world.dana.id)
    read = made(client.get(f"/fhir/Appointment/{via_rest['id']}", headers=as_desk))
    assert read["slot"] == [{"reference": f"Slot/{slot_id(world, at(3, 9), world.dana)}"}]


def test_the_capability_statement_says_how_versions_work(client):
    statement = client.get("/fhir/metadata").json()
    valid(statement)
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for kind in ("Appointment", "Patient"):  # both updated only on the version an If-Match names
        versioning = "versioned-update"
        assert types[kind]["versioning"] == versioning and types[kind]["conditionalCreate"] is True
        assert types[kind]["readHistory"] is False and types[kind]["updateCreate"] is False
        assert {"code": "vread"} in types[kind]["interaction"] and {"code": "update"} in types[kind]["interaction"]
    assert {p["name"] for p in types["Patient"]["searchParam"]} >= {"identifier", "name", "birthdate", "telecom"}


# --- served: real concurrency on PostgreSQL, and an independent FHIR client -------------------------------------

RACE_ROUNDS = 6


@pytest.fixture(scope="module")
def served(postgres_databases, tmp_path_factory):
    """Two `clinic serve` processes on one PostgreSQL database of the known clinic, for the whole module."""
    clinic = prepare_clinic(postgres_databases(), patients=RACE_ROUNDS)
    engine = make_engine(clinic.url)
    with session_scope(engine) as session:
        midtown = session.exec(select(Location.id).where(Location.name == "World Midtown")).one()
    engine.dispose()
    folder = tmp_path_factory.mktemp("fhir-served")
    servers = []
    try:
        for n in range(2):
            port = free_port()
            environment = clean_environment(DATABASE_URL=clinic.url, CLINIC_SECRET_KEY=SECRET_KEY,
                                            CLINIC_BACKGROUND_JOBS="false")
            servers.append(launch([clinic_script(), "serve", "--port", str(port), "--no-migrate"], port=port,
                                  cwd=folder, env=environment, log=folder / f"server-{n}.log"))
        yield clinic, midtown, servers
    finally:
        for server in servers:
            server.stop()


def _served_booking(server, desk, clinic, location_id: int, patient_id: int, start: datetime) -> dict:
    slot = f"s{clinic.service_id}-l{location_id}-c{clinic.dana_id}-t{int(start.timestamp()) // 60}"
    body = {"resourceType": "Appointment", "status": "booked", "slot": [{"reference": f"Slot/{slot}"}],
            "participant": [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}]}
    response = httpx.post(f"{server.base_url}/fhir/Appointment", json=body, headers=desk, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.postgres
def test_two_updates_made_on_one_version_race_and_exactly_one_wins(served):
    """Each round books a session, then two desks that read version 1 change it at the same instant through two
    server processes: one moves it two hours on, the other cancels it. The version is compared with the row
    locked for the write, so the second finds version 2 and gets a 412: the database then holds the winner's
    change, version 2, and one audit entry besides the booking; nothing of the loser's."""
    clinic, midtown, servers = served
    desks = [sign_in(server) for server in servers]
    rounds = []
    for number in range(RACE_ROUNDS):
        start = at(2 + number, 9)
        appointment = _served_booking(servers[0], desks[0], clinic, midtown, clinic.patient_ids[number], start)
        later = start + timedelta(hours=2)
        moved = {**appointment, "start": later.isoformat(), "end": (later + timedelta(minutes=30)).isoformat()}
        cancelled = {**appointment, "status": "cancelled", "cancelationReason": {"text": "raced"}}
        precondition = {"If-Match": f'W/"{appointment["meta"]["versionId"]}"'}
        path = f"/fhir/Appointment/{appointment['id']}"
        mover, canceller = (0, 1) if number % 2 else (1, 0)  # each change through either process
        rounds.append((appointment, start, later, fire_together([
            httpx.Request("PUT", f"{servers[mover].base_url}{path}", json=moved,
                          headers={**desks[mover], **precondition}),
            httpx.Request("PUT", f"{servers[canceller].base_url}{path}", json=cancelled,
                          headers={**desks[canceller], **precondition})])))

    engine = make_engine(clinic.url)
    try:
        with session_scope(engine) as session:
            for appointment, start, later, answers in rounds:
                codes = sorted(answer.status for answer in answers)
                assert codes == [200, 412], [(a.status, a.body) for a in answers]
                winner = next(answer.body for answer in answers if answer.status == 200)
                loser = next(answer.body for answer in answers if answer.status == 412)
                assert "is at version 2, not 1" in loser["issue"][0]["diagnostics"]
                row = session.get(Appointment, int(appointment["id"]))
                assert row.version == 2 and winner["meta"]["versionId"] == "2"
                assert (row.status.value, row.starts_at) == (
                    ("cancelled", start) if winner["status"] == "cancelled" else ("booked", later))
                actions = session.exec(select(AuditEntry.action).where(
                    AuditEntry.appointment_id == row.id)).all()
                change = "cancel" if row.status.value == "cancelled" else "reschedule"
                assert sorted(actions) == sorted(["book", change])
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_fhir_update_and_a_rest_change_of_one_patient_race_and_one_order_explains_the_end(served):
    """Two different writes on one patient at the same instant, through two server processes: a FHIR PUT made on
    version 1 (new name and phone, no e-mail: a FHIR update replaces) and the desk's REST PATCH of the e-mail.
    Whatever the order, the patient ends as one order of the two leaves it: PUT then PATCH (both 200, version
    3), PATCH then PUT (the PUT's If-Match is stale: 412), or the PUT first and the PATCH caught by the version
    it read (409); nothing is lost silently and nothing answers 5xx."""
    clinic, _, servers = served
    desks = [sign_in(server) for server in servers]
    ends = {("put", "patch"): ("Changed", "+1 212 555 0100", "raced@example.org", 3),
            ("put",): ("Changed", "+1 212 555 0100", None, 2), ("patch",): ("Race", None, "raced@example.org", 2)}
    seen = Counter()
    for number, patient_id in enumerate(clinic.patient_ids):
        put_through, patch_through = (0, 1) if number % 2 else (1, 0)
        current = httpx.get(f"{servers[put_through].base_url}/fhir/Patient/{patient_id}", headers=desks[0]).json()
        assert current["meta"]["versionId"] == "1", current
        replaced = {**current, "name": [{"family": "Changed", "given": ["Racer"]}],
                    "telecom": [{"system": "phone", "value": "+1 212 555 0100"}]}
        put, patch = fire_together([
            httpx.Request("PUT", f"{servers[put_through].base_url}/fhir/Patient/{patient_id}", json=replaced,
                          headers={**desks[put_through], "If-Match": 'W/"1"'}),
            httpx.Request("PATCH", f"{servers[patch_through].base_url}{API}/patients/{patient_id}",
                          json={"email": "raced@example.org"}, headers=desks[patch_through])])
        answers = (put.status, patch.status)
        order = {(200, 200): ("put", "patch"), (200, 409): ("put",), (412, 200): ("patch",)}.get(answers)
        assert order is not None, f"round {number}: {answers} {put.body} {patch.body}"
        stored = httpx.get(f"{servers[0].base_url}{API}/patients/{patient_id}", headers=desks[0]).json()
        version = int(httpx.get(f"{servers[1].base_url}/fhir/Patient/{patient_id}",
                                headers=desks[1]).json()["meta"]["versionId"])
        assert (stored["family_name"], stored["phone"], stored["email"], version) == ends[order], (number, answers)
        seen[order] += 1
    assert sum(seen.values()) == RACE_ROUNDS


@pytest.mark.postgres
def test_an_independent_fhir_client_makes_versioned_updates(served):
    """fhirpy registers a patient, books a free Slot for them, moves the session with If-Match, and finds its
    stale copy refused (412) until it refreshes it (If-None-Match: a 304 while current)."""
    clinic, _, servers = served
    token = sign_in(servers[1])["Authorization"]
    client = SyncFHIRClient(f"{servers[1].base_url}/fhir", authorization=token)
    patient = client.resource("Patient", name=[{"family": "Okafor", "given": ["Ada"]}], birthDate="1988-05-17",
                              telecom=[{"system": "email", "value": "ada.okafor@example.com"}])
    patient.save()
    assert patient.id and patient["meta"]["versionId"] == "1"
    assert client.resources("Patient").search(email="ada.okafor@example.com").fetch()[0].id == patient.id

    day = at(25, 0)
    slots = client.resources("Slot").search(schedule=f"Schedule/service-{clinic.service_id}", status="free",
                                            start__ge=(day + timedelta(hours=9)).isoformat(),
                                            start__lt=(day + timedelta(days=1)).isoformat()).fetch()
    appointment = client.resource("Appointment", status="booked", slot=[{"reference": f"Slot/{slots[0].id}"}],
                                  participant=[{"actor": patient.to_reference(), "status": "accepted"}])
    appointment.save()
    assert appointment["status"] == "booked" and appointment["meta"]["versionId"] == "1"
    stale = client.reference("Appointment", appointment.id).to_resource()

    later = datetime.fromisoformat(appointment["start"]) + timedelta(hours=2)
    appointment["start"] = later.isoformat()
    appointment["end"] = (later + timedelta(minutes=30)).isoformat()
    client.extra_headers = {"If-Match": f'W/"{appointment["meta"]["versionId"]}"'}
    appointment.save()
    assert datetime.fromisoformat(appointment["start"]) == later and appointment["meta"]["versionId"] == "2"

    stale["status"], client.extra_headers = "cancelled", {"If-Match": f'W/"{stale["meta"]["versionId"]}"'}
    with pytest.raises(MultipleResourcesFound, match="is at version 2, not 1"):  # fhirpy's name for any 412
        stale.save()
    client.extra_headers = None
    stale.refresh()
    assert stale["meta"]["versionId"] == "2" and stale["status"] == "booked"
    stale.refresh()  # If-None-Match "2": 304, the copy stays
    assert stale["start"] == appointment["start"]
    stale["status"] = "cancelled"
    stale.save()
    assert stale["status"] == "cancelled" and stale["meta"]["versionId"] == "3"
    read = httpx.get(f"{servers[0].base_url}/fhir/Appointment/{appointment.id}", headers={"Authorization": token})
    assert read.json()["status"] == "cancelled" and read.headers["etag"] == 'W/"3"'
