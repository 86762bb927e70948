"""What every FHIR module shares: the JSON response class, the error schema, who may call, documented parameters,
and the refusal (406) of clients that want anything but JSON."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse

from api.fhir.access import fhir_access
from data.enums import Role
from data.tables import User
from scheduler.backend_clients import ClientActor

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
# Staff by role; a backend client by the SMART scopes its token carries (api.fhir.access).
desk_access, staff_access = fhir_access(Role.ADMIN, Role.FRONT_DESK), fhir_access(*Role)
Desk = Annotated[User | ClientActor, Depends(desk_access)]


class FHIRResponse(JSONResponse):
    media_type = FHIR_JSON


# One schema for every FHIR error (api.errors.OperationOutcome); api.openapi adds each operation's error answers.
OUTCOME = {"description": "An OperationOutcome saying what is wrong",
           "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}}


RESULT_PARAMETERS = {"_count": "number", "_total": "token", "_summary": "token", "_elements": "string",
                     "_format": "token"}
FORM = "application/x-www-form-urlencoded"


def documented(search_parameters: dict[str, str], *, paging: str = "_offset", sorts: bool = False,
               form: bool = False) -> dict:
    """OpenAPI entries for a search's parameters and result parameters (so fuzzers see them): in the query string,
    or with ``form`` as the fields of a ``POST [type]/_search`` form."""
    every = {name: f"FHIR {kind} search parameter" for name, kind in search_parameters.items()}
    every |= {name: f"FHIR {kind} result parameter" for name, kind in RESULT_PARAMETERS.items()}
    every |= {paging: "where the page starts: follow the Bundle's next link"}
    every |= {"_sort": "FHIR result parameter: the order"} if sorts else {}
    if form:
        fields = {name: {"type": "string", "description": text} for name, text in every.items()}
        return {"requestBody": {"required": False, "content": {FORM: {"schema": {"type": "object",
                                                                                 "properties": fields}}}}}
    return {"parameters": [{"name": name, "in": "query", "required": False, "schema": {"type": "string"},
                            "description": text} for name, text in every.items()]}


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
