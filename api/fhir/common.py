"""What every FHIR module shares: the JSON response class, the error schema, who may call, documented parameters."""

from typing import Annotated

from fastapi import Depends
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


OUTCOME = {"description": "An OperationOutcome saying what is wrong", "content": {FHIR_JSON: {"schema": {
    "type": "object", "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}}}}}}
ERRORS = {code: OUTCOME for code in (400, 401, 403, 404, 409, 410, 422, 429)}


def documented(search_parameters: dict[str, str]) -> dict:
    """OpenAPI entries for search parameters, read from the query string by ``parameters`` (so fuzzers see them)."""
    every = search_parameters | {"_count": "number", "_offset": "number"}
    return {"parameters": [{"name": name, "in": "query", "required": False, "schema": {"type": "string"},
                            "description": f"FHIR {kind} search parameter"} for name, kind in every.items()]}

