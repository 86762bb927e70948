"""Every field of every request body takes its own JSON type and nothing pydantic's lax mode would turn into it.

Pydantic reads ``true`` as 1, ``"7"`` and ``7.0`` as 7, ``"yes"`` and ``1`` as true, and a number as seconds since
1970 (or since midnight) for a date or time. A body another system got wrong was then taken for something else:
``{"location_id": true}`` ran location 1's night, ``{"start": 1700000000}`` held a session in November 2023
(found by probes). The first test walks every request body the app declares, nested ones included, so a field
added later with a plain ``int`` or ``bool`` fails it.
"""

import typing
from datetime import date, datetime, time

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import AwareDatetime, BaseModel, ValidationError
from sqlmodel import select

from api.main import create_app
from data.config import Settings
from data.demo import load_demo_clinic
from data.enums import Role
from data.tables import Appointment, Patient, Service
from tests.conftest import bearer

MIDNIGHT_2026 = 1767225600  # 2026-01-01T00:00:00Z: the one kind of number pydantic would take for a date
WRONG = {
    int: [True, False, "7", 7.0],
    bool: ["yes", "true", 1, 0],
    date: [MIDNIGHT_2026, 0.0],
    datetime: [MIDNIGHT_2026, 1.5],
    AwareDatetime: [MIDNIGHT_2026, 1.5],
    time: [34200, 0],
}


def _kinds(annotation) -> set:
    """The scalar types a field's annotation is made of (through Optional, Annotated and lists)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _kinds(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is not None:
        return set().union(*(_kinds(argument) for argument in typing.get_args(annotation)))
    return {annotation}


def _models_in(annotation, found: dict) -> None:
    for kind in _kinds(annotation):
        if isinstance(kind, type) and issubclass(kind, BaseModel) and kind not in found:
            found[kind] = None
            for field in kind.model_fields.values():
                _models_in(field.annotation, found)


def _request_bodies() -> list[type[BaseModel]]:
    app = create_app(Settings(database_url="sqlite://", background_jobs=False))
    found: dict = {}
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            for parameter in route.original_route.dependant.body_params:
                _models_in(parameter.field_info.annotation, found)
    return list(found)


BODIES = _request_bodies()


def test_the_walk_finds_the_request_bodies():
    names = {model.__name__ for model in BODIES}
    assert {"HoldCreate", "PlanCreate", "PlanLineIn", "PlanWindowIn", "ServiceUpdate", "DeviceNeed",
            "PatientCreate", "RunRequest", "MoveIn"} <= names, names


@pytest.mark.parametrize("model", BODIES, ids=lambda model: model.__name__)
def test_every_field_takes_only_its_json_type(model):
    accepted = []
    for name, field in model.model_fields.items():
        for kind in _kinds(field.annotation):
            for value in WRONG.get(kind, []):
                try:
                    model.model_validate({name: value})
                except ValidationError as refused:
                    if any(error["loc"][:1] == (name,) for error in refused.errors()):
                        continue
                accepted.append((name, value))
    assert not accepted, f"{model.__name__} took {accepted}"


def test_a_number_for_a_start_or_text_for_a_count_is_refused_and_writes_nothing(client, app, staff, session):
    """Through the API: each answer names the field and says what to send, and nothing is held."""
    load_demo_clinic(session, today=date(2026, 3, 2))
    desk = bearer(app, staff[Role.FRONT_DESK])
    patient = session.exec(select(Patient)).first()
    service = session.exec(select(Service)).first()
    held_before = len(session.exec(select(Appointment)).all())
    body = {"service_id": service.id, "patient_id": patient.id}

    as_number = client.post("/api/v1/holds", json={**body, "start": MIDNIGHT_2026}, headers=desk)
    assert as_number.status_code == 422, as_number.text
    assert "start" in as_number.text and "as text" in as_number.text, as_number.text
    as_text = client.post("/api/v1/holds", json={**body, "start": "2026-03-03T09:00:00+00:00", "minutes": "10"},
                          headers=desk)
    assert as_text.status_code == 422 and "minutes" in as_text.text and "whole number" in as_text.text, as_text.text
    as_text_id = client.post("/api/v1/holds", json={**body, "patient_id": str(patient.id),
                                                    "start": "2026-03-03T09:00:00+00:00"}, headers=desk)
    assert as_text_id.status_code == 422 and "patient_id" in as_text_id.text, as_text_id.text
    assert len(session.exec(select(Appointment)).all()) == held_before


@pytest.mark.parametrize("written", ["1_0", "+1", "%201", "1.0", "0x1"])
def test_an_id_in_a_path_or_a_query_is_written_in_digits(client, as_admin, session, written):
    """Python reads "1_0" as 10 and "+1" or " 1" as 1: ``DELETE /services/1_0`` deleted service 10 (found by a
    probe)."""
    load_demo_clinic(session, today=date(2026, 3, 2))
    services = len(session.exec(select(Service)).all())
    for method, path in (("DELETE", f"/api/v1/services/{written}"), ("GET", f"/api/v1/patients/{written}"),
                         ("GET", f"/api/v1/appointments?patient_id={written}"),
                         ("GET", f"/api/v1/schedule?location_id={written}&day=2026-03-03")):
        answer = client.request(method, path, headers=as_admin)
        assert answer.status_code == 422 and "in digits" in answer.text, (path, answer.text)
    assert len(session.exec(select(Service)).all()) == services


@pytest.mark.parametrize("day", ["0", "1700000000", "2026-03-03T00:00:00Z"])
def test_a_date_in_a_query_is_a_date(client, as_desk, session, day):
    """``?day=0`` showed 1 January 1970, and a date-time at midnight was taken for a date (found by a probe)."""
    load_demo_clinic(session, today=date(2026, 3, 2))
    answer = client.get("/api/v1/schedule", params={"location_id": 1, "day": day}, headers=as_desk)
    assert answer.status_code == 422 and "2026-03-03" in answer.text, answer.text
