"""Fuzzing every operation of the OpenAPI document against a served demo clinic, on SQLite and PostgreSQL.

Signed in as an administrator (so every operation is reached), three passes:
- schemathesis with its default strategies: no 5xx, every answer's status
  is one the operation documents (a generated client parses only those), and
  every documented answer matches its schema and content type;
- schemathesis with boundary-heavy strategies: every date and date-time drawn
  from the calendar's edges and far past them (years 1 and 9999 with extreme
  offsets), plus its negative mode (out-of-range numbers, wrong types): no 5xx;
- a hand-written list of hostile values put into every parameter of every
  operation and every field of every request body (non-ASCII digits, huge
  numbers, lone surrogates, infinities, deep nesting, control characters),
  and bodies past the size cap: no 5xx, and the oversized ones are 413.
"""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import formats
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session

from data.accounts import upsert_user
from data.config import Settings
from data.demo import load_demo_clinic
from data.enums import Role
from tests.conftest import BACKENDS
from tests.servers import raw_exchange, served_clinic

EXAMPLES_PER_OPERATION = {"postgresql": 8, "sqlite": 4}
"""Generated requests per operation and backend, in the default and the boundary pass. PostgreSQL gets more: it is
the stricter of the two (lengths, NUL characters, integer ranges), where SQLite accepts what it is given; the
validation both share is the same code. Fewer on SQLite keeps CI within its budget."""
NEGATIVE_EXAMPLES_PER_OPERATION = 2
PASSWORD = "fuzzing password 123"
CAP = Settings().max_body_bytes


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory):
    def fill(session: Session) -> None:
        load_demo_clinic(session, today=date.today())
        upsert_user(session=session, username="fuzz_admin", password=PASSWORD, role=Role.ADMIN)

    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_databases")()
    with served_clinic(tmp_path_factory.mktemp("fuzz"), fill, url=url) as (server, _):
        yield server


@pytest.fixture(scope="module")
def admin(served) -> dict[str, str]:
    token = httpx.post(f"{served.base_url}/api/v1/auth/token",
                       data={"username": "fuzz_admin", "password": PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _operations(served) -> list:
    schema = schemathesis.openapi.from_url(f"{served.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60, "the whole API is fuzzed"
    return operations


def _fuzz(served, admin, operation, *, mode: GenerationMode, examples: int, checks: list) -> None:
    """One operation with ``examples`` generated requests; a failure names the operation and the request."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def fuzz(case):
        case.call_and_validate(base_url=served.base_url, headers=admin, checks=checks)

    fuzz()


@pytest.fixture
def examples(request) -> int:
    return EXAMPLES_PER_OPERATION[request.node.callspec.params["served"]]


def test_no_operation_answers_5xx_or_off_schema(served, admin, examples):
    for operation in _operations(served):
        _fuzz(served, admin, operation, mode=GenerationMode.POSITIVE, examples=examples,
              checks=[not_a_server_error, status_code_conformance, response_schema_conformance,
                      content_type_conformance])


EDGE_DAYS = ["0001-01-01", "1899-12-31", "1900-01-01", "1970-01-01", "2027-03-14", "2027-11-07", "2200-12-31",
             "2201-01-01", "9999-12-31"]
EDGE_TIMES = ["00:00:00", "01:30:00", "23:59:59", "23:59:59.999999"]
EDGE_OFFSETS = ["Z", "+00:00", "+14:00", "-12:00", "+23:59", "-23:59", "-05:00", "+05:45"]
EDGE_FORMATS = {
    "date": st.sampled_from(EDGE_DAYS),
    "date-time": st.builds("{}T{}{}".format, st.sampled_from(EDGE_DAYS), st.sampled_from(EDGE_TIMES),
                           st.sampled_from(EDGE_OFFSETS)),
}


@contextmanager
def string_formats(strategies: dict[str, st.SearchStrategy]) -> Iterator[None]:
    """Schemathesis draws these formats from ``strategies`` inside the block, and as before after it."""
    saved = {name: formats.STRING_FORMATS.get(name) for name in strategies}
    for name, strategy in strategies.items():
        schemathesis.openapi.format(name, strategy)
    try:
        yield
    finally:
        for name, strategy in saved.items():
            formats.unregister_string_format(name)
            if strategy is not None:
                formats.STRING_FORMATS[name] = strategy


def _takes_moments(document: dict, operation: dict) -> bool:
    """Whether a date or date-time is among the operation's inputs, following schema references."""
    pending, seen = [operation.get("parameters", []), operation.get("requestBody", {})], set()
    while pending:
        text = json.dumps(pending.pop())
        if '"format": "date' in text:
            return True
        for name in set(re.findall(r"#/components/schemas/([^\"]+)", text)) - seen:
            seen.add(name)
            pending.append(document["components"]["schemas"][name])
    return False


def test_boundary_values_and_negative_data_never_answer_5xx(served, admin, examples):
    """Calendar edges wherever a date or date-time goes in; negative data everywhere."""
    document = httpx.get(f"{served.base_url}/openapi.json").json()
    unsatisfiable = []
    with string_formats(EDGE_FORMATS):
        for operation in _operations(served):
            if _takes_moments(document, operation.definition.raw):
                _fuzz(served, admin, operation, mode=GenerationMode.POSITIVE,
                      examples=examples, checks=[not_a_server_error])
            try:
                _fuzz(served, admin, operation, mode=GenerationMode.NEGATIVE,
                      examples=NEGATIVE_EXAMPLES_PER_OPERATION, checks=[not_a_server_error])
            except Unsatisfiable:
                unsatisfiable.append(operation.label)
    # operations that accept any input at all have no negative data: 20 on 2026-12-02, the 11 that take no input
    # (/health, /auth/me, /auth/renew, ...) and those whose every input is a free string
    assert len(unsatisfiable) < 25, unsatisfiable


HOSTILE_NUMBERS = ["9" * 30, "\u00b2", "\uff11\uff12", "1e400", "-1"]  # superscript two, fullwidth twelve
HOSTILE_MOMENTS = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59", "1900-01-01T00:00:00+14:00",
                   "2200-12-31T20:00:00-05:00", "0001-01-01", "9999-12-31", "\u00b2"]
HOSTILE_TEXTS = ["9" * 30, "\u00b2", "1e400", "0001-01-01T00:00:00+14:00", "9999-12-31",
                 "ge9999-12-31T23:59:59-23:59", "\ud800", "\x00", "a\nb", "x" * 3000, "s1-l1-c1-t99999999999",
                 "busy-" + "9" * 30, "service-\u00b2", "Patient/" + "9" * 30]
HOSTILE_JSON = ['"\\ud800"', '{"\\udfff": 1}', "1e400", "-1e400", "9" * 4000, '"\u00b2"', '"a\\u0000b"',
                '"0001-01-01T00:00:00+14:00"', '"9999-12-31T23:59:59-23:59"', '"9999-12-31"',
                "[" * 5000 + "]" * 5000, '"' + "x" * 30_000 + '"']


def _encoded(value: str) -> str:
    """Percent-encoded UTF-8, lone surrogates as the bytes a careless client would send."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _concrete(schema: dict) -> dict:
    return next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)


def _hostile(schema: dict) -> list[str]:
    """What to try in a parameter: numbers where a number is parsed, moments where a moment is, else anything."""
    schema = _concrete(schema)
    if schema.get("type") == "integer":
        return HOSTILE_NUMBERS
    if schema.get("format") in ("date", "date-time"):
        return HOSTILE_MOMENTS
    return HOSTILE_TEXTS


def _plausible(schema: dict) -> str:
    """A value a parameter would accept, so the hostile one next to it is what gets judged."""
    schema = _concrete(schema)
    if "enum" in schema:
        return str(schema["enum"][0])
    by_format = {"date-time": "2027-03-01T09:00:00-05:00", "date": "2027-03-01"}
    by_type = {"integer": "1", "number": "1", "boolean": "true"}
    pattern = schema.get("pattern", "")
    return by_format.get(schema.get("format")) or by_type.get(schema.get("type")) or (
        "09:30" if pattern.startswith("^([01]") else "a" * 20)


def _hostile_requests(document: dict) -> Iterator[tuple[str, str, dict, bytes | None]]:
    """(method, url, headers, body) with one hostile value at a time, over every operation of the document."""
    schemas = document["components"]["schemas"]
    for template, methods in document["paths"].items():
        for method, operation in methods.items():
            parameters = operation.get("parameters", [])
            base = {p["name"]: _plausible(p.get("schema", {})) for p in parameters if p.get("required")}

            def url(values: dict) -> str:
                path = template.format(**{p["name"]: _encoded(values.get(p["name"], "1"))
                                          for p in parameters if p["in"] == "path"})
                query = "&".join(f"{p['name']}={_encoded(values[p['name']])}" for p in parameters
                                 if p["in"] == "query" and p["name"] in values)
                return f"{path}?{query}" if query else path

            for parameter in parameters:
                for value in _hostile(parameter.get("schema", {})):
                    if parameter["in"] == "header":
                        if value.isascii() and value.isprintable():
                            yield method, url(base), {parameter["name"]: value}, None
                    else:
                        yield method, url(base | {parameter["name"]: value}), {}, None
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                schema = content["application/json"]["schema"]
                schema = schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema
                fields = list(schema.get("properties", {})) or ["resourceType", "status", "slot", "participant"]
                json_type = {"Content-Type": "application/json"}
                for value in HOSTILE_JSON:
                    body = "{" + ", ".join(f'"{field}": {value}' for field in fields) + "}"
                    yield method, url(base), json_type, body.encode()
                yield method, url(base), json_type, b'{"' + fields[0].encode() + b'": "\xff\xfe"}'
            if "application/x-www-form-urlencoded" in content:
                for value in HOSTILE_TEXTS:
                    fields = ("username", "password", "grant_type", "scope")
                    yield method, url(base), {"Content-Type": "application/x-www-form-urlencoded"}, "&".join(
                        f"{field}={_encoded(value)}" for field in fields).encode()


def test_hostile_values_in_every_parameter_and_body_never_answer_5xx(served, admin):
    document = httpx.get(f"{served.base_url}/openapi.json").json()
    failures, sent = [], 0
    with httpx.Client(base_url=served.base_url, headers=admin, timeout=60) as client:
        for method, url, headers, body in _hostile_requests(document):
            try:
                status = client.request(method, url, headers=headers, content=body).status_code
            except httpx.TransportError as error:  # the server dropped the connection: as bad as a 500
                status = f"dropped ({error})"
            sent += 1
            if not isinstance(status, int) or status >= 500:
                failures.append(f"{status} {method.upper()} {url[:120]} {(body or b'')[:80]!r}")
    assert failures == [], f"{len(failures)} of {sent} hostile requests answered 5xx: {failures[:20]}"
    assert sent > 2000


def test_every_body_over_the_cap_is_413(served, admin):
    """Declared too large and not sent at all: each operation taking a body refuses it unread."""
    document = httpx.get(f"{served.base_url}/openapi.json").json()
    answers = {}
    for template, methods in document["paths"].items():
        for method, operation in methods.items():
            for media_type in operation.get("requestBody", {}).get("content", {}):
                path = re.sub(r"{[^}]+}", "1", template)
                head = (f"{method.upper()} {path} HTTP/1.1\r\nHost: fuzz\r\nAuthorization: {admin['Authorization']}\r\n"
                        f"Content-Type: {media_type}\r\nContent-Length: {CAP + 1}\r\n\r\n")
                answers[f"{method} {path} {media_type}"] = raw_exchange(served, head.encode())[0]
    assert len(answers) > 30 and set(answers.values()) == {413}, answers
