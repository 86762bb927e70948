"""Clinicians, rooms, device units and services with history are archived, not deleted: the past keeps its names.

The clinic clock stands on Wednesday 3 March 2027 after Dana gave Ann a
shockwave session on Tuesday 2 March (checked in and completed).
"""

import threading
from datetime import date

import pytest
from sqlmodel import Session

from data import catalog, catalog_version, entities
from data.config import Settings
from data.db import make_engine, serialized, session_scope
from data.errors import Conflict
from data.migrate import upgrade
from data.tables import Clinician, WaitlistRequest
from scheduler import booking, night
from tests.booking_helpers import book, booked, hold, search, set_clock
from tests.clinic_world import NOW, at, build_world
from tests.factories import API, clinician_body, create, user_body
from tests.lock_waits import someone_waits_on_a_lock

NEXT_WEEK = at(9, 9)  # Tuesday 9 March, 09:00


@pytest.fixture
def world(session, app):
    set_clock(app, NOW)
    return build_world(session)


@pytest.fixture
def given(client, app, as_desk, world) -> dict:
    """The session Dana gave Ann on Tuesday, with its room and device units; the clock is now Wednesday."""
    appointment = booked(client, as_desk, world.eswt, world.patients[0], at(2, 9), clinician_id=world.dana.id)
    set_clock(app, at(2, 9))
    for step in ("check-in", "complete"):
        response = client.post(f"{API}/appointments/{appointment['id']}/{step}", headers=as_desk)
        assert response.status_code == 200, response.text
    set_clock(app, at(3, 8))
    return appointment


def archive(client, as_admin, collection: str, ident: int) -> dict:
    response = client.delete(f"{API}/{collection}/{ident}", headers=as_admin)
    assert response.status_code == 200, response.text
    assert response.json()["archived_at"] is not None
    return response.json()


def listed(client, headers, collection: str, **params) -> list[int]:
    return [item["id"] for item in client.get(f"{API}/{collection}", params={"limit": 200, **params},
                                              headers=headers).json()["items"]]


def test_an_archived_clinician_still_names_their_past_sessions(client, as_admin, as_desk, world, given):
    dana = world.dana.id
    assert archive(client, as_admin, "clinicians", dana)["name"] == "Dana"
    assert dana not in listed(client, as_desk, "clinicians")
    assert dana in listed(client, as_desk, "clinicians", archived="true")
    assert client.get(f"{API}/clinicians/{dana}", headers=as_desk).json()["archived_at"] is not None

    assert client.get(f"{API}/appointments/{given['id']}", headers=as_desk).json()["clinician_id"] == dana
    roster = client.get(f"{API}/clinicians/{dana}/roster", headers=as_desk,
                        params={"start": at(2, 0).isoformat(), "end": at(3, 0).isoformat()}).json()
    assert [(e["appointment_id"], e["clinician"]["name"], e["patient"]["name"]) for e in roster] == [
        (given["id"], "Dana", "Ann World")]
    day = client.get(f"{API}/rosters/2027-03-02", params={"location_id": world.midtown.id}, headers=as_desk).json()
    assert {r["clinician"]["name"]: [e["appointment_id"] for e in r["entries"]] for r in day}["Dana"] == [given["id"]]
    later = client.get(f"{API}/rosters/2027-03-04", params={"location_id": world.midtown.id}, headers=as_desk).json()
    assert "Dana" not in [r["clinician"]["name"] for r in later]
    board = client.get(f"{API}/day-board/2027-03-04", params={"location_id": world.midtown.id},
                       headers=as_desk).json()
    assert "Dana" not in [row["resource"]["name"] for row in board]


def test_no_later_clinician_inherits_an_archived_clinicians_sessions(client, as_admin, as_desk, world, given):
    archive(client, as_admin, "clinicians", world.dana.id)
    newcomer = create(client, as_admin, "clinicians", clinician_body(world.midtown.id, name="Newcomer"))
    assert newcomer["id"] > world.dana.id
    roster = client.get(f"{API}/clinicians/{newcomer['id']}/roster", headers=as_desk,
                        params={"start": at(2, 0).isoformat(), "end": at(3, 0).isoformat()}).json()
    assert roster == []
    day = client.get(f"{API}/rosters/2027-03-02", params={"location_id": world.midtown.id}, headers=as_desk).json()
    named = {e["appointment_id"]: r["clinician"]["name"] for r in day for e in r["entries"]}
    assert named == {given["id"]: "Dana"}


def resources(world, given) -> dict:
    """Collection, id, and the booking fields that would ask for that record explicitly."""
    return {
        "clinicians": (world.dana.id, {"clinician_id": world.dana.id}),
        "rooms": (given["room_id"], {"room_id": given["room_id"]}),
        "devices": (given["device_ids"][0], {"device_ids": [given["device_ids"][0]]}),
        "services": (world.eswt.id, {}),
    }


@pytest.mark.parametrize("collection", ["clinicians", "rooms", "devices", "services"])
def test_an_archived_record_cannot_be_booked_or_held(client, as_admin, as_desk, world, given, collection):
    ident, asked = resources(world, given)[collection]
    archive(client, as_admin, collection, ident)
    for attempt in (book, hold):
        response = attempt(client, as_desk, world.eswt, world.patients[1], NEXT_WEEK, **asked)
        assert response.status_code == 422, response.text
        assert "archived" in str(response.json()["detail"])


def test_searches_offer_only_what_is_in_service(client, as_admin, as_desk, world, given):
    archive(client, as_admin, "clinicians", world.dana.id)
    archive(client, as_admin, "rooms", given["room_id"])
    found = search(client, as_desk, world.eswt, NEXT_WEEK, at(10, 0))
    assert found["slots"] and {slot["clinician"]["name"] for slot in found["slots"]} == {"Eli"}
    assert given["room_id"] not in {slot["room"]["id"] for slot in found["slots"]}
    asked = client.get(f"{API}/availability", headers=as_desk, params={
        "service_id": world.eswt.id, "clinician_id": world.dana.id, "start": NEXT_WEEK.isoformat(),
        "end": at(10, 0).isoformat()})
    assert asked.status_code == 422 and "archived" in str(asked.json()["detail"])
    archive(client, as_admin, "services", world.eswt.id)
    response = client.get(f"{API}/availability", headers=as_desk, params={
        "service_id": world.eswt.id, "start": NEXT_WEEK.isoformat(), "end": at(10, 0).isoformat()})
    assert response.status_code == 422 and "archived" in str(response.json()["detail"])


def test_live_appointments_to_come_block_archiving(client, as_admin, as_desk, world, given):
    coming = booked(client, as_desk, world.eswt, world.patients[1], NEXT_WEEK, clinician_id=world.dana.id)
    for collection in ("clinicians", "services"):
        ident, _ = resources(world, given)[collection]
        response = client.delete(f"{API}/{collection}/{ident}", headers=as_admin)
        assert response.status_code == 409, response.text
        assert "cannot be archived" in response.json()["detail"]
        # named with its time in the clinic's zone, as the desk reads it (it was in UTC)
        assert f"appointment {coming['id']} (booked, {coming['start']})" in response.json()["blockers"]
    assert client.get(f"{API}/clinicians/{world.dana.id}", headers=as_admin).json()["archived_at"] is None


def test_a_record_without_history_is_deleted(client, as_admin, world):
    newcomer = create(client, as_admin, "clinicians", clinician_body(world.midtown.id, name="Newcomer"))
    assert client.delete(f"{API}/clinicians/{newcomer['id']}", headers=as_admin).status_code == 204
    assert client.get(f"{API}/clinicians/{newcomer['id']}", headers=as_admin).status_code == 404


def test_a_cancelled_session_is_history_too(client, as_admin, as_desk, world):
    held = hold(client, as_desk, world.eswt, world.patients[0], at(2, 13), clinician_id=world.eli.id).json()
    assert client.delete(f"{API}/holds/{held['id']}", headers=as_desk).status_code == 200
    archive(client, as_admin, "clinicians", world.eli.id)


def test_archiving_twice_and_restoring(client, as_admin, as_desk, world, given):
    first = archive(client, as_admin, "clinicians", world.dana.id)
    assert archive(client, as_admin, "clinicians", world.dana.id)["archived_at"] == first["archived_at"]
    restored = client.post(f"{API}/clinicians/{world.dana.id}/restore", headers=as_admin)
    assert restored.status_code == 200 and restored.json()["archived_at"] is None
    assert book(client, as_desk, world.eswt, world.patients[1], NEXT_WEEK,
                clinician_id=world.dana.id).status_code == 201


def test_nothing_new_may_name_an_archived_record(client, as_admin, as_desk, world, given):
    archive(client, as_admin, "clinicians", world.dana.id)
    response = client.post(f"{API}/users", headers=as_admin,
                           json=user_body(username="dana", role="clinician", clinician_id=world.dana.id))
    assert response.status_code == 422 and "archived" in str(response.json()["detail"])

    archive(client, as_admin, "services", world.eswt.id)
    response = client.post(f"{API}/waitlist", headers=as_desk, json={
        "patient_id": world.patients[1].id, "service_id": world.eswt.id, "earliest_day": "2027-03-08",
        "latest_day": "2027-03-12"})
    assert response.status_code == 422 and "archived" in str(response.json()["detail"])
    duplicate = client.post(f"{API}/services", headers=as_admin, json={
        "code": "w_eswt", "name": "Shockwave again", "duration_minutes": 30})
    assert duplicate.status_code == 409 and "archived" in duplicate.json()["detail"]


def test_the_fhir_directory_leaves_archived_clinicians_out_of_searches(client, as_admin, as_desk, world, given):
    archive(client, as_admin, "clinicians", world.dana.id)
    found = client.get("/fhir/Practitioner", headers=as_desk).json()
    assert str(world.dana.id) not in [entry["resource"]["id"] for entry in found.get("entry", [])]
    schedules = client.get("/fhir/Schedule", headers=as_desk).json()
    assert f"practitioner-{world.dana.id}" not in [entry["resource"]["id"] for entry in schedules.get("entry", [])]
    read = client.get(f"/fhir/Practitioner/{world.dana.id}", headers=as_desk)
    assert read.status_code == 200 and read.json()["active"] is False


def test_an_archived_public_service_is_no_longer_published(client, app, session, world):
    app.state.settings = app.state.settings.model_copy(update={
        "public_telehealth_service": "w_telehealth", "public_office_service": "w_msus"})
    world.telehealth.archived_at = NOW
    session.flush()
    assert client.get(f"{API}/public/slots", params={"kind": "telehealth"}).status_code == 404
    published = client.get("/fhir/bulk/Slot.ndjson")
    assert published.status_code == 200, published.text
    assert published.text and f"Schedule/service-{world.telehealth.id}-l" not in published.text


def test_the_nightly_model_leaves_archived_clinicians_out(session, world):
    """Max and Dana both give diagnostic ultrasound; with Max archived, only Dana may take the waiting session."""
    world.max.archived_at = NOW
    session.add(WaitlistRequest(patient_id=world.patients[0].id, service_id=world.msus.id,
                                earliest_day=date(2027, 3, 3), latest_day=date(2027, 3, 5),
                                earliest_time=at(1, 8).time(), latest_time=at(1, 16).time(), created_at=NOW))
    session.flush()
    gathered = night.gather(session, location_id=world.midtown.id, now=NOW, settings=Settings())
    (waiting,) = gathered.problem.waiting
    assert {clinician.id for clinician in waiting.kind.clinicians} == {world.dana.id}


def test_a_night_planned_on_a_catalog_that_changed_writes_nothing(session, world):
    gathered = night.gather(session, location_id=world.midtown.id, now=NOW, settings=Settings())
    catalog_version.bump(session)
    with pytest.raises(Conflict, match="catalog changed"):
        night.write(session, gathered, None, now=NOW, settings=Settings())


@pytest.mark.postgres
def test_archiving_waits_for_a_booking_in_flight_and_names_it(postgres_databases):
    """The booking holds the catalog; archiving its clinician waits for it, then finds the new session."""
    engine = make_engine(postgres_databases())
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as setup:
        world = build_world(setup)
        setup.commit()
    outcome: list[BaseException | None] = []

    def archive_eli() -> None:
        with Session(serialized(engine)) as session:
            try:
                catalog.remove(session, entities.CLINICIANS, session.get(Clinician, world.eli.id), now=NOW)
                outcome.append(None)
            except Conflict as exc:
                outcome.append(exc)

    with Session(serialized(engine)) as desk:
        choice = booking.SlotChoice(world.eswt.id, world.patients[0].id, at(2, 13), clinician_id=world.eli.id)
        made = booking.book(desk, actor=None, choice=choice, now=NOW, settings=Settings())
        waiting = threading.Thread(target=archive_eli)
        waiting.start()
        someone_waits_on_a_lock(engine, unless=lambda: not waiting.is_alive())
        desk.commit()
        made_id = made.id
    waiting.join()
    with session_scope(engine) as session:
        assert session.get(Clinician, world.eli.id).archived_at is None
    engine.dispose()
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
    assert any(f"appointment {made_id}" in blocker for blocker in outcome[0].blockers)
