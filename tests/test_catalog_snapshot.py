"""The per-process catalog snapshot is reused while the catalog is unchanged and reloaded after any change."""

from datetime import date, time

from data import catalog_version
from data.tables import ClinicianShift, Patient
from scheduler.catalog_snapshot import catalog
from tests.clinic_world import build_world
from tests.factories import API


def test_reused_until_a_catalog_row_changes(session):
    world = build_world(session)
    first = catalog(session)
    assert catalog(session) is first
    session.add(Patient(given_name="Not", family_name="Catalog", birth_date=date(1990, 1, 1)))
    session.flush()
    assert catalog(session) is first, "patients are not part of the catalog"
    session.add(ClinicianShift(clinician_id=world.eli.id, weekday=5, starts=time(9), ends=time(10)))
    session.flush()
    changed = catalog(session)
    assert changed is not first and changed.token != first.token
    assert (5, time(9), time(10)) in changed.clinicians[world.eli.id].shifts


def test_api_catalog_writes_change_the_token(client, as_admin, session):
    world = build_world(session)
    before = catalog_version.current(session)
    response = client.patch(f"{API}/rooms/{world.gym.id}", json={"name": "Big gym"}, headers=as_admin)
    assert response.status_code == 200
    assert catalog_version.current(session) != before
    assert catalog(session).locations[world.midtown.id].rooms[-1].name == "Big gym"
