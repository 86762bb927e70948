"""What every FHIR module shares: the JSON response class, the error schema, who may call, documented parameters,
and the refusal (406) of clients that want anything but JSON."""

from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from sqlmodel import Session

from api.fhir import resources as fhir
from api.fhir.access import fhir_access
from data.enums import Role
from data.errors import NotFound
from data.tables import User
from scheduler.backend_clients import ClientActor

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
T = TypeVar("T")
# Staff by role; a backend client by the SMART scopes its token carries (api.fhir.access).
desk_access, staff_access = fhir_access(Role.ADMIN, Role.FRONT_DESK), fhir_access(*Role)
Desk = Annotated[User | ClientActor, Depends(desk_access)]


class FHIRResponse(JSONResponse):
    media_type = FHIR_JSON


# One schema for every FHIR error (api.errors.OperationOutcome); api.openapi adds each operation's error answers.
OUTCOME = {"description": "An OperationOutcome saying what is wrong",
           "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}}


FORM = "application/x-www-form-urlencoded"
# What a value of each kind of search parameter looks like. A date may be given twice (ge... and lt...).
SEARCH_KINDS = {
    "reference": ({"type": "string"}, "A reference: `Type/id`, or the id alone"),
    "token": ({"type": "string"}, "A code, or `system|code`"),
    "string": ({"type": "string"}, "A name or part of one, ignoring case"),
    "date": ({"type": "array", "items": {"type": "string"}},
             "A FHIR date or dateTime (without a time: the clinic's local calendar), after an optional prefix such "
             "as `ge` or `lt`; repeat the parameter to bound both ends"),
}
# An operation's inputs (Argonaut $find): a date or dateTime given once, a whole number.
OPERATION_KINDS = {
    "dateTime": ({"type": "string"}, "A FHIR date (the clinic's whole local day) or dateTime with offset"),
    "number": ({"type": "integer", "minimum": 1}, "A whole number"),
}
WELL_KNOWN = {"_id": ({"type": "string"}, "The resource's id; several, comma-separated, match any")}
PAGING = {
    "_offset": ({"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "Entries to skip"),
    "_cursor": ({"type": "string"}, "Where the page starts: follow the Bundle's `next` link"),
}


def documented(search_parameters: dict[str, str], *, paging: str = "_offset", sorts: tuple[str, ...] = (),
               form: bool = False) -> dict:
    """OpenAPI entries for a search's parameters (``kind`` by name) and the result parameters ``Search.read``
    takes with the same ``paging`` and ``sorts``: in the query string, or with ``form`` as the fields of a
    ``POST [type]/_search`` form. Each is typed and described, so a generated client gets a real argument for it
    and fuzzers try it."""
    from api.fhir.search import MAX_COUNT, SUMMARIES, TOTALS  # search builds on this module: read when called

    every = _described(search_parameters)
    every |= {
        "_count": ({"type": "integer", "minimum": 0, "maximum": MAX_COUNT},
                   "Entries per page; 0 answers the total only"),
        "_total": ({"type": "string", "enum": list(TOTALS)}, "Whether to count the matches"),
        "_summary": ({"type": "string", "enum": list(SUMMARIES)},
                     "Only the summary elements (`true`), the total only (`count`), or everything (`false`)"),
        "_elements": ({"type": "string"}, "Comma-separated top-level elements to return (mandatory ones come too)"),
        "_format": ({"type": "string"}, "The answer's format: JSON only (`json`, `application/fhir+json`)"),
        paging: PAGING[paging],
    }
    if sorts:
        every["_sort"] = ({"type": "string", "enum": list(sorts)}, "The order of the entries")
    if form:
        fields = {name: {**schema, "description": text} for name, (schema, text) in every.items()}
        return {"requestBody": {"required": False, "content": {FORM: {"schema": {"type": "object",
                                                                                 "properties": fields}}}},
                "responses": {"415": {"description": f"The body is not a form ({FORM})"}}}
    return _in_query(every)


def operation_inputs(inputs: dict[str, str]) -> dict:
    """OpenAPI entries for an operation's inputs given in the query string (``kind`` by name)."""
    return _in_query(_described(inputs))


def _described(parameters: dict[str, str]) -> dict[str, tuple[dict, str]]:
    kinds = SEARCH_KINDS | OPERATION_KINDS
    return {name: WELL_KNOWN.get(name) or kinds.get(kind, ({"type": "string"}, f"A FHIR {kind} parameter"))
            for name, kind in parameters.items()}


def _in_query(parameters: dict[str, tuple[dict, str]]) -> dict:
    return {"parameters": [{"name": name, "in": "query", "required": False, "schema": schema, "description": text,
                            **({"explode": True} if schema["type"] == "array" else {})}
                           for name, (schema, text) in parameters.items()]}


JSON_MEDIA_TYPES = {"*/*", "application/*", "application/json", FHIR_JSON, "application/json+fhir", FHIR_NDJSON,
                    "application/ndjson"}
JSON_FORMATS = {"json", "application/json", FHIR_JSON, "application/json+fhir"}


def check_format(value: str) -> None:
    """``_format``: JSON in any of its FHIR spellings (a ``+`` may arrive as a space); XML or anything else is a 406."""
    if value.strip().lower().replace(" ", "+") not in JSON_FORMATS:
        raise HTTPException(status.HTTP_406_NOT_ACCEPTABLE,
                            f"this server answers in JSON only (_format=json or {FHIR_JSON}), not {value[:40]!r}")


def speaks_json(request: Request) -> None:
    """Every FHIR answer is JSON: a client that accepts only XML (or another format), by ``Accept`` or ``_format``,
    is told so with a 406 rather than handed JSON it did not ask for."""
    for value in request.query_params.getlist("_format"):
        check_format(value)
    accept = request.headers.get("accept", "").strip()
    if accept and not any(_accepts_json(part) for part in accept.split(",")):
        raise HTTPException(status.HTTP_406_NOT_ACCEPTABLE,
                            f"this server answers in JSON ({FHIR_JSON}) only, not {accept[:80]!r}")


def _accepts_json(media_range: str) -> bool:
    """One media range of an Accept header names JSON (or anything) with a weight above zero."""
    media, *options = media_range.split(";")
    weights = [option.strip()[2:] for option in options if option.strip().lower().startswith("q=")]
    try:
        weight = float(weights[0]) if weights else 1.0
    except ValueError:
        weight = 0.0
    return media.strip().lower() in JSON_MEDIA_TYPES and weight > 0


def stored(session: Session, table: type[T], ident: str) -> T:
    """The record ``Type/<ident>`` names, or a 404 OperationOutcome (also for an id that cannot be a record's)."""
    number = fhir.record_id(ident)
    record = session.get(table, number) if number else None
    if record is None:
        raise NotFound(table.__name__, ident)
    return record
