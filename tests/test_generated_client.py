"""A client generated from ``/openapi.json`` with openapi-python-client drives a served demo clinic (issue 17).

The generator is what an integrator runs; it must take the whole document without a warning (a schema it cannot
read is dropped, and the operations answering with it lose their answer). Through the generated code only:
sign in, search availability, book; book the same time again and get the 409 parsed as ``ErrorAnswer`` (not
``None``); cancel with an ``If-Match`` of another version (412, parsed) and then of its own; read the rosters as
``RosterEntry`` and ``ClinicianRoster``; a FHIR 404 as an ``OperationOutcome``.
One generation and one server for the module, on SQLite (nothing here depends on the database).
"""

import importlib
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta

import httpx
import pytest

from tests.servers import clean_environment, clinic_script, free_port, launch

PASSWORD = "generated-client-password"
PACKAGE = "clinic_client"
GENERATOR_TIMEOUT_SECONDS = 300  # a bound so a hung generator fails the test; it takes a few seconds
# The one setting the generator needs (docs/api.md): SMART Scheduling Links' NDJSON files are read as bytes.
CONFIG = {"content_type_overrides": {"application/fhir+ndjson": "application/octet-stream"}}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated-client-server")
    port = free_port()
    server = launch([clinic_script(), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)], port=port,
                    cwd=folder, env=clean_environment(CLINIC_DEMO_PASSWORD=PASSWORD, CLINIC_BACKGROUND_JOBS="false",
                                                      CLINIC_SECRET_KEY="generated-" + "k" * 40,
                                                      CLINIC_SOLVER_TIME_LIMIT_SECONDS="4"),
                    log=folder / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def generated(served, tmp_path_factory):
    """The client package generated from the served document, importable for the module's tests."""
    folder = tmp_path_factory.mktemp("generated-client")
    (folder / "openapi.json").write_bytes(httpx.get(f"{served.base_url}/openapi.json").content)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", "openapi.json",
         "--output-path", PACKAGE, "--meta", "none", "--config", "config.json"],
        cwd=folder, env=clean_environment(), capture_output=True, text=True, timeout=GENERATOR_TIMEOUT_SECONDS)
    said = run.stdout + run.stderr
    assert run.returncode == 0, said
    assert re.search(r"warning|unable|cannot|could not|error", said, re.IGNORECASE) is None, said
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def operation(tag: str, name: str):
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")


def model(name: str):
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


def signed_in(served, generated, username: str):
    """A demo user signed in through the generated sign-in operation."""
    sign_in = operation("auth", "sign_in_with_password_api_v1_auth_token_post")
    form = model("BodySignInWithPasswordApiV1AuthTokenPost")
    anonymous = generated.Client(base_url=served.base_url)
    refused = sign_in.sync(client=anonymous, body=form(username=username, password=PASSWORD + "x"))
    assert isinstance(refused, model("ErrorAnswer")) and "incorrect" in refused.detail
    token = sign_in.sync(client=anonymous, body=form(username=username, password=PASSWORD))
    assert isinstance(token, model("Token")), token
    return generated.AuthenticatedClient(base_url=served.base_url, token=token.access_token)


@pytest.fixture(scope="module")
def desk(served, generated):
    return signed_in(served, generated, "frontdesk")


def test_a_booking_its_conflict_and_the_roster_through_the_generated_client(desk):
    services = operation("services", "list_records_api_v1_services_get").sync(client=desk, limit=200)
    patients = operation("patients", "list_records_api_v1_patients_get").sync(client=desk, limit=2)
    service = next(s for s in services.items if s.code == "sij_manual")
    first, second = patients.items

    start = datetime.now().astimezone() + timedelta(days=1)
    found = operation("booking", "availability_api_v1_availability_get").sync(
        client=desk, service_id=service.id, start=start, end=start + timedelta(days=14), limit=1)
    assert isinstance(found, model("AvailabilityPublic")) and found.slots, found
    slot = found.slots[0]
    assert isinstance(slot.clinician, model("Named"))

    book = operation("booking", "book_api_v1_appointments_post")
    choice = {"service_id": service.id, "start": slot.start, "clinician_id": slot.clinician.id}
    booked = book.sync(client=desk, body=model("AppointmentCreate")(patient_id=first.id, **choice))
    assert isinstance(booked, model("AppointmentPublic")) and booked.status.value == "booked", booked

    taken = book.sync_detailed(client=desk, body=model("AppointmentCreate")(patient_id=second.id, **choice))
    assert taken.status_code == 409
    assert isinstance(taken.parsed, model("ErrorAnswer")) and isinstance(taken.parsed.detail, str), taken.content

    cancel = operation("booking", "cancel_api_v1_appointments_ident_cancel_post")
    reason = model("CancelRequest")(reason="patient asked")
    stale = cancel.sync_detailed(booked.id, client=desk, body=reason, if_match=f'W/"{booked.version + 1}"')
    assert stale.status_code == 412 and isinstance(stale.parsed, model("ErrorAnswer")), stale.content
    assert "changed since you read it" in stale.parsed.detail

    roster = operation("rosters", "roster_of_clinician_api_v1_clinicians_clinician_id_roster_get").sync(
        slot.clinician.id, client=desk, start=slot.start - timedelta(hours=1), end=slot.end + timedelta(hours=1))
    entry = next(e for e in roster if e.appointment_id == booked.id)
    assert isinstance(entry, model("RosterEntry"))
    assert (entry.patient.id, entry.clinician.name, entry.starts_at) == (first.id, slot.clinician.name, slot.start)

    day = operation("rosters", "rosters_of_day_api_v1_rosters_day_get").sync(slot.start.date(), client=desk)
    theirs = next(r for r in day if r.clinician.id == slot.clinician.id)
    assert isinstance(theirs, model("ClinicianRoster")) and booked.id in {e.appointment_id for e in theirs.entries}

    cancelled = cancel.sync(booked.id, client=desk, body=reason, if_match=f'W/"{booked.version}"')
    assert isinstance(cancelled, model("AppointmentPublic")) and cancelled.status.value == "cancelled", cancelled
    assert cancelled.version == booked.version + 1


def test_errors_are_parsed_models_under_fhir_and_elsewhere(desk, served, generated):
    missing = operation("fhir", "read_slot_fhir_slot_ident_get").sync("busy-999999", client=desk)
    assert isinstance(missing, model("OperationOutcome")) and missing.issue[0].code == "not-found"
    anonymous = generated.AuthenticatedClient(base_url=served.base_url, token="not-a-token")
    refused = operation("auth", "who_am_i_api_v1_auth_me_get").sync(client=anonymous)
    assert isinstance(refused, model("ErrorAnswer")), refused


def test_a_nightly_run_its_brief_history_and_the_holds_it_placed_through_the_generated_client(served, generated,
                                                                                            desk):
    """The run record's newer reads (``brief`` lists, ``change_counts``, ``night-holds``) parse as the models the
    document names, and agree with the whole record."""
    admin = signed_in(served, generated, "admin")
    locations = operation("locations", "list_records_api_v1_locations_get").sync(client=admin, limit=200)
    location = locations.items[0]
    services = operation("services", "list_records_api_v1_services_get").sync(client=desk, limit=200)
    patient = operation("patients", "list_records_api_v1_patients_get").sync(client=desk, limit=1).items[0]
    service = next(s for s in services.items if s.code == "sij_manual")
    first = date.today() + timedelta(days=3)  # past the run's freeze window
    waiting = operation("waitlist", "add_api_v1_waitlist_post").sync(client=desk, body=model("WaitlistCreate")(
        patient_id=patient.id, service_id=service.id, earliest_day=first, latest_day=first + timedelta(days=7)))
    assert isinstance(waiting, model("WaitlistPublic")), waiting
    run = operation("optimization", "start_run_api_v1_optimization_runs_post").sync(
        client=admin, body=model("RunRequest")(location_id=location.id))
    assert isinstance(run, model("RunPublic")) and run.status.value == "succeeded", run
    history = operation("optimization", "list_runs_api_v1_optimization_runs_get").sync(
        client=desk, location_id=location.id, brief=True)
    (listed,) = [r for r in history.items if r.id == run.id]
    assert listed.changes == [] and listed.waiting == []
    whole = operation("optimization", "get_run_api_v1_optimization_runs_ident_get").sync(run.id, client=desk)
    assert isinstance(whole, model("RunDetail"))
    assert listed.change_counts.to_dict() == dict(Counter(change["action"] for change in whole.changes)) != {}
    assert listed.waiting_count == len(whole.waiting)
    holds = operation("optimization", "holds_placed_at_night_api_v1_optimization_runs_night_holds_get").sync(
        client=desk, location_id=location.id)
    assert holds and all(isinstance(hold, model("NightHoldPublic")) and hold.run_id == run.id for hold in holds)
    placed = {change["appointment_id"] for change in whole.changes
              if change["action"] in ("waitlist_hold", "plan_session")}
    assert {hold.appointment_id for hold in holds} == placed
