"""The front desk finds a patient by name, phone, e-mail or birth date, and is told in words what is wrong."""

import pytest

from tests.factories import API, create, patient_body


@pytest.fixture
def patients(client, as_desk) -> dict[str, dict]:
    return {
        "grace": create(client, as_desk, "patients", patient_body()),
        "alan": create(client, as_desk, "patients", patient_body(
            given_name="Alan", family_name="Turing", birth_date="1912-06-23", phone="(212) 555-0199",
            email="Alan.Turing@Example.org")),
        "ada": create(client, as_desk, "patients", patient_body(
            given_name="Ada", family_name="Lovelace", birth_date="1980-12-09", phone=None, email=None)),
    }


def found(client, headers, **params) -> list[str]:
    response = client.get(f"{API}/patients", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [patient["given_name"] for patient in response.json()["items"]]


def test_the_phone_is_matched_by_its_digits_however_it_was_written(client, as_desk, patients):
    assert found(client, as_desk, phone="2125550199") == ["Alan"]
    assert found(client, as_desk, phone="555 01") == ["Grace", "Alan"]
    assert found(client, as_desk, phone="+1 212 555 0100") == ["Grace"]
    assert found(client, as_desk, phone="999") == []


def test_the_email_is_matched_in_part_and_in_any_case(client, as_desk, patients):
    assert found(client, as_desk, email="alan.turing@example") == ["Alan"]
    assert found(client, as_desk, email="EXAMPLE") == ["Grace", "Alan"]
    assert found(client, as_desk, email="%") == []


def test_the_birth_date_is_matched_exactly_and_criteria_combine(client, as_desk, patients):
    assert found(client, as_desk, birth_date="1980-12-09") == ["Grace", "Ada"]
    assert found(client, as_desk, birth_date="1980-12-09", name="lov") == ["Ada"]
    assert found(client, as_desk, birth_date="1980-12-09", phone="0100", name="gra") == ["Grace"]
    assert found(client, as_desk, birth_date="1980-12-10") == []


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"phone": "ab-12"}, "phone", "at least 3 digits"),
    ({"birth_date": "9 Dec 1980"}, "birth_date", "date"),
])
def test_a_search_it_cannot_run_is_a_422_in_words(client, as_desk, params, field, words):
    response = client.get(f"{API}/patients", params=params, headers=as_desk)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"][-1] == field and words in error["msg"]


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"phone": "call me"}, "phone", "e.g. +1 212 555 0100"),
    ({"birth_date": "2199-01-01"}, "birth_date", "2199-01-01 is in the future"),
])
def test_registering_with_a_bad_phone_or_birth_date_says_which_field_and_why(client, as_desk, change, field, words):
    response = client.post(f"{API}/patients", json=patient_body(**change), headers=as_desk)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field] and words in error["msg"] and "pattern" not in error["msg"]


def test_the_patients_of_a_list_are_named_in_one_request(client, as_desk, patients):
    ids = [patients["ada"]["id"], patients["grace"]["id"]]
    assert found(client, as_desk, id=ids) == ["Grace", "Ada"]
    assert found(client, as_desk, id=ids, name="ada") == ["Ada"]
    too_many = client.get(f"{API}/patients", params={"id": list(range(1, 202))}, headers=as_desk)
    assert too_many.status_code == 422
