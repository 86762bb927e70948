"""The CapabilityStatement: what this FHIR server supports."""

from fastapi import APIRouter, Request

from api.deps import NowDep
from api.fhir.appointments import APPOINTMENT_PARAMETERS
from api.fhir.directory import DIRECTORY, directory_parameters
from api.fhir.patients import PATIENT_PARAMETERS
from api.fhir.search import SEARCH_SUPPORT
from api.fhir.slots import SLOT_PARAMETERS
from api.urls import absolute_url, smart_token_endpoint

router = APIRouter()
ARGONAUT = "http://fhir.org/guides/argonaut-scheduling/OperationDefinition/appointment-"


@router.get("/metadata")
def capability_statement(request: Request, now: NowDep):
    """The CapabilityStatement: FHIR 4.0.1, JSON, what can be read, searched and written (no sign-in)."""

    def described(resource_type: str, parameters: dict[str, str], interactions: list[str]) -> dict:
        return {"type": resource_type, "interaction": [{"code": code} for code in interactions],
                "searchParam": [{"name": name, "type": kind} for name, kind in parameters.items()]}

    resources = [described(t, directory_parameters(filters), ["read", "search-type"])
                 for t, (_, filters) in DIRECTORY.items()]
    resources.append(described("Slot", SLOT_PARAMETERS, ["read", "search-type"]))
    versions = {"readHistory": False, "updateCreate": False, "conditionalCreate": True,
                "conditionalUpdate": False}  # vread serves the current version; If-None-Exist on create
    resources.append({**described("Appointment", APPOINTMENT_PARAMETERS,
                                  ["read", "vread", "search-type", "create", "update", "patch"]),
                      "versioning": "versioned-update", **versions,
                      "operation": [{"name": name, "definition": f"{ARGONAUT}{name}"} for name in ("find", "hold",
                                                                                                 "book")]})
    resources.append({**described("Patient", PATIENT_PARAMETERS, ["read", "vread", "search-type", "create", "update"]),
                      "versioning": "versioned-update", **versions})
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
                              "update changes the status (book a hold, cancel, arrived, fulfilled, noshow) or "
                              "moves a booked one (start, Practitioner, room, Device); the rest must be as stored. "
                              "Send If-Match: W/\"<versionId>\" to update only the version you read (else 412); PATCH takes a "
                              "JSON Patch. Argonaut Scheduling: Appointment/$find, $hold, $book. "
                              f"{SEARCH_SUPPORT}"),
            "security": _security(request),
            "resource": resources,
            "operation": [{"name": "bulk-publish",
                           "definition": "http://fhir-registry.smarthealthit.org/OperationDefinition/bulk-publish"}],
        }],
    }


def _security(request: Request) -> dict:
    """OAuth for staff (passwords) and SMART on FHIR for systems; the token endpoint also in SMART's oauth-uris
    extension, for clients that read it here rather than at /fhir/.well-known/smart-configuration."""
    service = "http://terminology.hl7.org/CodeSystem/restful-security-service"
    return {
        "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                       "extension": [{"url": "token", "valueUri": smart_token_endpoint(request)}]}],
        "service": [{"coding": [{"system": service, "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}]},
                    {"coding": [{"system": service, "code": "OAuth", "display": "OAuth"}]}],
        "description": ("Systems (EHRs) use SMART Backend Services: a registered client signs a JWT (RS384 or "
                        "ES384) and trades it at the token endpoint for a five-minute token with system/ scopes; "
                        "see /fhir/.well-known/smart-configuration. Staff sign in with POST /api/v1/auth/token."),
    }
