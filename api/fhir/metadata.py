"""The CapabilityStatement: what this FHIR server supports."""

from fastapi import APIRouter, Request

from api.deps import NowDep
from api.fhir.appointments import APPOINTMENT_PARAMETERS
from api.fhir.directory import DIRECTORY, directory_parameters
from api.fhir.slots import SLOT_PARAMETERS
from api.urls import absolute_url

router = APIRouter()


@router.get("/metadata")
def capability_statement(request: Request, now: NowDep):
    """The CapabilityStatement: FHIR 4.0.1, JSON, what can be read, searched and written (no sign-in)."""

    def described(resource_type: str, parameters: dict[str, str], interactions: list[str]) -> dict:
        return {"type": resource_type, "interaction": [{"code": code} for code in interactions],
                "searchParam": [{"name": name, "type": kind} for name, kind in parameters.items()]}

    resources = [described(t, directory_parameters(filters), ["read", "search-type"])
                 for t, (_, filters) in DIRECTORY.items()]
    resources.append(described("Slot", SLOT_PARAMETERS, ["read", "search-type"]))
    resources.append(described("Appointment", APPOINTMENT_PARAMETERS, ["read", "search-type", "create", "update"]))
    return {
        "resourceType": "CapabilityStatement", "status": "active", "date": now.date().isoformat(),
        "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
        "software": {"name": "clinic-scheduler", "version": request.app.version},
        "implementation": {"description": "Clinic scheduling", "url": absolute_url(request, "/fhir")},
        "rest": [{
            "mode": "server",
            "documentation": ("Sign in with POST /api/v1/auth/token and send the bearer token; metadata and the "
                              "bulk publication are public. Free Slots exist for service schedules (Schedule/"
                              "service-<id>); clinician, device and room schedules list busy Slots. Appointment "
                              "update only books a pending appointment or cancels one."),
            "security": {"service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                                  "code": "OAuth", "display": "OAuth"}]}]},
            "resource": resources,
            "operation": [{"name": "bulk-publish",
                           "definition": "http://fhir-registry.smarthealthit.org/OperationDefinition/bulk-publish"}],
        }],
    }
