"""The OpenAPI document is one a client can be generated from (issue 17): the document itself, read statically.

A generated client (tests/test_generated_client.py drives one) names a class after each schema's title, needs
every array's items, and parses only the answers an operation documents; FHIR searches need their parameters.
"""

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from api.errors import ErrorAnswer, OperationOutcome, answer
from api.main import create_app
from data.config import Settings
from tests.test_authorization_matrix import EVERYONE, PUBLIC, allowed

WRITES = {"post", "put", "patch", "delete"}
ERROR_SCHEMAS = {"application/json": "#/components/schemas/ErrorAnswer",
                 "application/fhir+json": "#/components/schemas/OperationOutcome"}


@pytest.fixture(scope="module")
def app():
    """No database is touched: the document is built from the routes alone."""
    return create_app(Settings(database_url="sqlite://", background_jobs=False))


@pytest.fixture(scope="module")
def document(app) -> dict:
    return app.openapi()


def operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def schemas_within(node) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from schemas_within(value)
    elif isinstance(node, list):
        for value in node:
            yield from schemas_within(value)


def test_every_schema_is_filed_under_its_own_title(document):
    """Two schemas titled ``Named`` made a generator drop RosterEntry, ClinicianRoster and BoardRow; names such as
    ``Page_AppointmentPublic_`` or ``api__schemas__booking__Named`` are pydantic's mangling, not names. (FastAPI's
    ``Body_<operation id>`` for a form stays: it names its operation.)"""
    schemas = document["components"]["schemas"]
    assert {name for name, schema in schemas.items() if schema.get("title") != name} == set()
    assert [name for name in schemas if not re.fullmatch(r"[A-Z][A-Za-z0-9]*|Body_[a-z0-9_]*[a-z0-9]", name)
            or "__" in name] == []
    assert {"RosterEntry", "ClinicianRoster", "BoardRow", "Named", "AppointmentPage"} <= set(schemas)


def test_every_array_says_what_it_holds(document):
    untyped = [json.dumps(node)[:80] for node in schemas_within(document)
               if node.get("type") == "array" and "items" not in node and "prefixItems" not in node]
    assert untyped == []


def test_every_error_answer_has_the_one_error_schema(document):
    """Outside /fhir an ErrorAnswer, under /fhir an OperationOutcome: one component each, always by reference.
    The SMART token endpoint answers its refusals as RFC 6749 says (OAuthError)."""
    wrong = []
    for method, path, operation in operations(document):
        media_type = "application/fhir+json" if path.startswith("/fhir") else "application/json"
        for code, response in operation["responses"].items():
            schema = ERROR_SCHEMAS[media_type]
            if (method, path) == ("post", "/auth/token") and code in ("400", "401", "429"):
                schema = "#/components/schemas/OAuthError"
            if int(code) >= 400 and response.get("content") != {media_type: {"schema": {"$ref": schema}}}:
                wrong.append(f"{method} {path} {code}")
    assert wrong == []
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])


def test_each_operation_documents_the_refusals_it_can_give(document):
    """401 and 403 where a token is needed (and 403 wherever docs/api.md's table refuses a role), 404 for a record
    named in the path, 409 for every change, 413 for every body."""
    missing = []
    for method, path, operation in operations(document):
        documented = set(operation["responses"])
        expected = set()
        if path.startswith(("/api/v1/", "/fhir/")) and not PUBLIC.search(path):
            expected |= {"401"} | ({"403"} if allowed(method.upper(), path) != EVERYONE else set())
        if any(p["in"] == "path" and p["schema"].get("format") != "date" for p in operation.get("parameters", [])):
            expected |= {"404"}
        if method in WRITES and not path.endswith(("/$find", "/_search")):
            expected |= {"409"}
        if "requestBody" in operation:
            expected |= {"413"}
        missing += [f"{method} {path} {code}" for code in sorted(expected - documented)]
    assert missing == []


def test_the_rate_limited_and_lapsing_operations_say_so(document):
    paths = document["paths"]
    assert {"401", "429"} <= set(paths["/api/v1/auth/token"]["post"]["responses"])
    assert "429" in paths["/api/v1/public/requests"]["post"]["responses"]
    assert {"404", "409", "410"} <= set(paths["/api/v1/appointments"]["post"]["responses"])
    assert "410" in paths["/api/v1/public/patients/{token}/offers/{appointment_id}/accept"]["post"]["responses"]


def _answered(path: str, status_code: int, detail, extra=None) -> dict:
    request = Request({"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""})
    return json.loads(answer(request, status_code, detail, extra=extra).body)


def test_the_error_schemas_are_what_the_app_answers():
    """The schemas are built from these models, which refuse any key they do not name."""
    issue = [{"loc": ["body", "start"], "msg": "give an instant", "type": "value_error"}]
    for body in (_answered("/api/v1/appointments", 409, "the time is taken"),
                 _answered("/api/v1/patients/1/erase", 409, "sessions to come", {"blockers": ["appointment 3"]}),
                 _answered("/api/v1/appointments", 422, issue)):
        ErrorAnswer.model_validate(body)
    for body in (_answered("/fhir/Slot", 400, issue), _answered("/fhir/Slot/x", 404, "Slot x does not exist")):
        OperationOutcome.model_validate(body)


def test_fhir_searches_declare_their_parameters(app, document):
    """Every search parameter the CapabilityStatement lists is an argument of the search operation, typed and
    described; a date repeats (ge... and lt...); the result parameters come with every search."""
    statement = TestClient(app).get("/fhir/metadata").json()
    wrong = []
    for resource in statement["rest"][0]["resource"]:
        if not any(i["code"] == "search-type" for i in resource["interaction"]):
            continue
        declared = {p["name"]: p for p in document["paths"][f"/fhir/{resource['type']}"]["get"]["parameters"]}
        for search_parameter in resource.get("searchParam", []):
            name = search_parameter["name"]
            parameter = declared.get(name)
            if parameter is None or parameter["description"].startswith("FHIR "):
                wrong.append(f"{resource['type']} {name}: {parameter}")
            elif search_parameter["type"] == "date" and parameter["schema"]["type"] != "array":
                wrong.append(f"{resource['type']} {name} is one value")
        if declared.get("_count", {}).get("schema", {}).get("type") != "integer":
            wrong.append(f"{resource['type']} _count is not a number")
    assert wrong == []
