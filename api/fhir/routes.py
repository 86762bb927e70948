"""FHIR R4 endpoints under ``/fhir``: one router made of the directory, slots, appointments, patients, SMART
Scheduling Links and the CapabilityStatement (each its own module). Errors are OperationOutcomes (``api.errors``).
"""

from fastapi import APIRouter, Depends

from api.fhir import appointments, bulk, directory, metadata, operations, patients, slots
from api.fhir.common import FHIRResponse, speaks_json
from api.openapi import also_answers

router = APIRouter(prefix="/fhir", tags=["fhir"], default_response_class=FHIRResponse,
                   dependencies=[Depends(speaks_json)], responses=also_answers(406))
for part in (directory, slots, operations, appointments, patients, bulk, metadata):  # operations before {ident} routes
    router.include_router(part.router)
