"""The OpenAPI document, complete enough to generate a working client from (openapi-python-client is tested).

FastAPI documents an operation's success and its request validation. The other error answers follow from
what the operation depends on, so they are worked out here, in one place, for every route (those added
later too) rather than repeated on each one:

- it asks for a bearer token: 401 without a valid one, 403 when the token's holder may not do this (a role
  that may not, a backend client's token outside /fhir or without the scope);
- it names a record in its path (not a date): 404;
- it changes something (POST, PUT, PATCH, DELETE; but a POST whose function also answers a GET is a search, as
  FHIR's ``POST [type]/_search`` and ``$find``): 409, since a concurrent change or a database constraint can
  refuse any write;
- it takes a body: 413 past the size cap;
- it opens a database session: 503 while the database is unavailable;
- it takes input: 422 (under /fhir: 400 for the query or a request it cannot read, 422 for a JSON body it cannot
  use).

What only a route's own code knows (a rate limit, a lapsed hold, an unknown location in the query) it declares
with ``responses=also_answers(...)``. Every error answer has one schema, what :func:`api.errors.answer`
writes: ``ErrorAnswer``, or ``OperationOutcome`` under /fhir; only a route that declares a model of its own
for an answer (the SMART token endpoint's RFC 6749 errors) keeps it.

Two more things generators trip over are settled here too: each component is filed under its title (pydantic
files ``Page[AppointmentPublic]`` as ``Page_AppointmentPublic_``), and a GET has no body (a function serving a
GET and a POST declares the POST's).
"""

import json
import re

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic.json_schema import models_json_schema

from api.deps import get_session
from api.errors import FHIR_PREFIX, ErrorAnswer, OperationOutcome

FHIR_JSON = "application/fhir+json"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")  # FastAPI's 422 schema, replaced by ErrorAnswer

DESCRIPTIONS = {
    400: "The query or the request cannot be used (an unknown search parameter, a malformed value or body)",
    401: "No bearer token, or one that expired or no longer matches its account: sign in again",
    403: "Signed in, but this account may not do this",
    404: "A record the request names does not exist",
    406: "The client accepts only formats this service does not answer in (it answers JSON)",
    409: "The change clashes with the current state (a taken time, a record changed meanwhile); nothing was "
         "written",
    410: "What the request names existed but has lapsed (an expired hold, an offer no longer open)",
    412: "If-Match names a version the record is no longer at: it was changed since it was read; nothing was "
         "written",
    413: "The request body is larger than this service accepts (CLINIC_MAX_BODY_BYTES)",
    415: "The body is not of the media type this operation reads",
    422: "The input is wrong; each problem names its field",
    429: "Too many requests: try again after the Retry-After header's seconds",
    503: "The database is unavailable: try again after the Retry-After header's seconds",
}


def also_answers(*codes: int) -> dict[int, dict]:
    """Error answers a route gives beyond those its dependencies imply; their schema is added with the rest."""
    return {code: {"description": DESCRIPTIONS[code]} for code in codes}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json``) the document described above."""
    generate = app.openapi
    completed = None

    def openapi() -> dict:
        nonlocal completed
        document = generate()  # FastAPI's, cached until the routes change: completed once
        if document is not completed:
            routes = [route for route in iter_route_contexts(app.routes)
                      if isinstance(route.original_route, APIRoute) and route.include_in_schema]
            searches = {route.endpoint for route in routes if "GET" in route.methods}
            for route in routes:
                _complete(document["paths"][route.path_format], route, searches)
            _add_error_schemas(document)
            _file_by_title(document)
            completed = document
        return document

    app.openapi = openapi


def _complete(path: dict, route, searches: set) -> None:
    """Each of the route's operations with its error answers; a GET without a body."""
    fhir = route.path_format.startswith(FHIR_PREFIX)
    schema, media_type = ("OperationOutcome", FHIR_JSON) if fhir else ("ErrorAnswer", "application/json")
    for method in route.methods:
        operation = path[method.lower()]
        if method == "GET":
            operation.pop("requestBody", None)  # HTTP gives a GET's body no meaning; such a route reads none
        elif "requestBody" in operation:
            _body_optional_not_null(operation["requestBody"])
        responses = operation["responses"]
        if fhir:
            responses.pop("422", None)  # FastAPI's; under /fhir a request it cannot read is a 400
        for code in sorted(_error_codes(route, method, operation, fhir, route.endpoint in searches)):
            if _own_shape(responses.get(str(code), {})):
                continue  # a route that answers this error in a shape of its own (the OAuth token endpoint's)
            described = responses.get(str(code), {}).get("description") or DESCRIPTIONS[code]
            responses[str(code)] = {"description": described, "content": {media_type: {"schema": {
                "$ref": f"#/components/schemas/{schema}"}}}}


def _error_codes(route, method: str, operation: dict, fhir: bool, search: bool) -> set[int]:
    calls = {dependency.call for dependency in _dependencies(route.dependant)}
    parameters = operation.get("parameters", [])
    takes_body = "requestBody" in operation
    codes = {int(code) for code in operation["responses"] if code.isdigit() and int(code) >= 400}
    if fhir and takes_body:
        codes |= {400} | ({422} if "application/json" in operation["requestBody"]["content"] else set())
    if fhir and any(parameter["in"] in ("query", "header") for parameter in parameters):
        codes |= {400}
    if operation.get("security"):
        codes |= {401, 403}
    if any(parameter["in"] == "path" and parameter.get("schema", {}).get("format") != "date"
           for parameter in parameters):
        codes |= {404}
    if method in WRITES and not search:
        codes |= {409}
    if takes_body:
        codes |= {413}
    if get_session in calls:
        codes |= {503}
    return codes


def _own_shape(response: dict) -> bool:
    """Whether a route declared this answer with a model of its own (not FastAPI's validation error)."""
    named = re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(response.get("content", {})))
    return bool(named) and not set(named) <= set(VALIDATION_SCHEMAS)


def _dependencies(dependant):
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def _body_optional_not_null(body: dict) -> None:
    """FastAPI documents an optional body (``= None``) as "X or null"; OpenAPI says it with ``required: false``,
    which is what generators understand."""
    for content in body.get("content", {}).values():
        choices = content.get("schema", {}).get("anyOf", [])
        if len(choices) == 2 and {"type": "null"} in choices:
            content["schema"] = {**next(choice for choice in choices if choice != {"type": "null"}),
                                 **{key: value for key, value in content["schema"].items() if key != "anyOf"}}


def _add_error_schemas(document: dict) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _, generated = models_json_schema([(ErrorAnswer, "validation"), (OperationOutcome, "validation")],
                                      ref_template="#/components/schemas/{model}")
    schemas.update(generated["$defs"])
    if '"#/components/schemas/HTTPValidationError"' not in json.dumps(document["paths"]):
        for name in VALIDATION_SCHEMAS:
            schemas.pop(name, None)


def _file_by_title(document: dict) -> None:
    """File each schema under its title where pydantic mangled the name of a generic model.

    ``Page[AppointmentPublic]`` is filed as ``Page_AppointmentPublic_``; its title, ``AppointmentPage`` (see
    ``Page.model_parametrized_name``), is the name a generated client gives its class, so it becomes the name.
    """
    schemas = document["components"]["schemas"]
    renamed = {name: schema["title"] for name, schema in schemas.items()
               if schema.get("title", name) != name and schema["title"].isidentifier()
               and schema["title"] not in schemas}
    text = json.dumps({"paths": document["paths"], "schemas": schemas})
    for old, new in renamed.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renewed = json.loads(text)
    document["paths"] = renewed["paths"]
    document["components"]["schemas"] = dict(sorted(
        (renamed.get(name, name), schema) for name, schema in renewed["schemas"].items()))
