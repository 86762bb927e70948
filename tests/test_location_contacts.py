"""A location's address in parts, phone and web page (issue 17): what a slot finder needs, as the admin types it."""

import sqlalchemy as sa
from alembic import command

from data.db import make_engine
from data.migrate import alembic_config
from tests.factories import API, create, location_body
from tests.test_catalog_api import assert_rejected

CONTACTS = {"address_line": "44 East 30th Street", "city": "New York", "state": "ny", "postal_code": "10016-4321",
            "phone": "+1 212 555 0199", "website": "https://clinic.example.org/midtown"}


def test_an_admin_sets_and_empties_the_address_and_contacts(client, as_admin, as_desk):
    made = create(client, as_admin, "locations", location_body(**CONTACTS))
    assert {name: made[name] for name in CONTACTS} == {**CONTACTS, "state": "NY"}
    read = client.get(f"/fhir/Location/{made['id']}", headers=as_desk).json()
    assert read["address"]["line"] == ["44 East 30th Street"] and read["address"]["state"] == "NY"
    assert read["telecom"] == [{"system": "phone", "value": "+1 212 555 0199"},
                               {"system": "url", "value": "https://clinic.example.org/midtown"}]
    assert read["identifier"] == [{"system": "urn:clinic-scheduler:location", "value": str(made["id"])}]
    emptied = client.patch(f"{API}/locations/{made['id']}", headers=as_admin, json={
        "address_line": "", "city": " ", "state": "", "postal_code": "", "website": ""})
    assert emptied.status_code == 200, emptied.text
    assert [emptied.json()[name] for name in CONTACTS] == [None, None, None, None, "+1 212 555 0199", None]


def test_half_an_address_and_misspelt_parts_are_refused_in_words(client, as_admin):
    body = location_body(address_line="44 East 30th Street", city="New York")
    assert_rejected(client.post(f"{API}/locations", json=body, headers=as_admin), ("body", "state"),
                    "give the whole address", "the state is missing")
    for field, value, words in [("state", "New York", "postal abbreviation"), ("postal_code", "#1", "postal code"),
                                ("phone", "call the desk", "digits"), ("website", "clinic.example.org", "full address")]:
        response = client.post(f"{API}/locations", json=location_body(**{**CONTACTS, field: value}), headers=as_admin)
        assert_rejected(response, ("body", field), words)
    made = create(client, as_admin, "locations", location_body(**CONTACTS))
    response = client.patch(f"{API}/locations/{made['id']}", json={"city": ""}, headers=as_admin)
    assert_rejected(response, ("body", "city"), "the city is missing")
    assert client.get(f"{API}/locations/{made['id']}", headers=as_admin).json()["city"] == "New York"


def test_the_migration_reads_a_us_address_into_its_parts(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'clinic.db'}")
    config = alembic_config(engine)
    command.upgrade(config, "a8c3e5f7d9b1")
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO location (name, address, time_zone, locale) VALUES "
            "('Midtown', '44 East 30th Street, New York, NY 10016', 'America/New_York', 'en-US'), "
            "('Harbor', 'Pier 17, ask at the gate', 'America/New_York', 'en-US')"))
    command.upgrade(config, "b9d4e6f8a0c2")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT name, address, address_line, city, state, postal_code FROM location ORDER BY name")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("Harbor", "Pier 17, ask at the gate", None, None, None, None),
        ("Midtown", "44 East 30th Street, New York, NY 10016", "44 East 30th Street", "New York", "NY", "10016")]
