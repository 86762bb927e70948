"""FHIR directory resources (Practitioner, PractitionerRole, Location, Device, HealthcareService, Schedule).

The directory is small, so each kind is built whole from the catalog and filtered in memory.
"""

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session, select

from api.deps import SessionDep
from api.fhir import resources as fhir
from api.fhir.common import documented, staff_access
from api.fhir.search import Search, SearchForm, reference_id
from data.errors import NotFound
from data.tables import Clinician, Device, DeviceType, Location, Room, Service
from scheduler.catalog_snapshot import catalog

router = APIRouter()
DIRECTORY_TYPES = {"name": "string", "specialty": "token", "type": "token", "service-type": "token"}


def directory_parameters(filters) -> dict[str, str]:
    return {"_id": "token"} | {name: DIRECTORY_TYPES.get(name, "reference") for name in filters}


def clinicians(session: Session) -> list[Clinician]:
    return list(session.exec(select(Clinician).order_by(Clinician.id)))


def locations(session: Session) -> list[dict]:
    clinics = [fhir.clinic(location) for location in session.exec(select(Location).order_by(Location.id))]
    return clinics + [fhir.room(room) for room in session.exec(select(Room).order_by(Room.id))]


def _devices(session: Session) -> list[dict]:
    types = {t.id: t for t in session.exec(select(DeviceType))}
    return [fhir.device(unit, types[unit.device_type_id]) for unit in session.exec(select(Device).order_by(Device.id))]


def _services(session: Session) -> list[dict]:
    locations = sorted(catalog(session).locations)
    return [fhir.healthcare_service(service, locations) for service in session.exec(select(Service).order_by(Service.id))]


def schedules(session: Session) -> list[dict]:
    result = [fhir.schedule("practitioner", c.id, c.name, location_ids=[c.location_id], active=fhir.in_service(c))
              for c in clinicians(session)]
    result += [fhir.schedule("device", d.id, d.name, location_ids=[d.location_id], active=fhir.in_service(d))
               for d in session.exec(select(Device).order_by(Device.id))]
    result += [fhir.schedule("room", r.id, r.name, location_ids=[r.location_id], active=fhir.in_service(r))
               for r in session.exec(select(Room).order_by(Room.id))]
    services = list(session.exec(select(Service).order_by(Service.id)))
    locations = sorted(catalog(session).locations)
    result += [fhir.schedule("service", s.id, s.name, location_ids=locations, service=s, active=fhir.in_service(s))
               for s in services]
    clinics = list(session.exec(select(Location).order_by(Location.id)))
    return result + [fhir.clinic_schedule(service, clinic) for service in services for clinic in clinics]


def _refers(field: str, resource_type: str) -> Callable[[dict, str], bool]:
    """A reference search parameter over ``field`` (one reference or a list of them)."""
    def matches(resource: dict, value: str) -> bool:
        wanted = f"{resource_type}/{reference_id(value, resource_type)}"
        found = resource.get(field) or []
        return any(ref.get("reference") == wanted for ref in (found if isinstance(found, list) else [found]))
    return matches


def _coded(field: str) -> Callable[[dict, str], bool]:
    """A token parameter: ``code`` or ``system|code``."""
    def matches(resource: dict, value: str) -> bool:
        system, _, code = value.rpartition("|")
        concepts = resource.get(field) or []
        return any(c["code"] == code and (not system or c["system"] == system)
                   for concept in (concepts if isinstance(concepts, list) else [concepts]) for c in concept["coding"])
    return matches


def _named(resource: dict, value: str) -> bool:
    names = [resource.get("name")] if isinstance(resource.get("name"), str) else [
        n.get("text", "") for n in resource.get("name", [])]
    return any(value.lower() in (name or "").lower() for name in names)


def _actor(resource: dict, value: str) -> bool:
    return any(ref["reference"] == value or ref["reference"].endswith(f"/{value}") for ref in resource["actor"])


DIRECTORY: dict[str, tuple[Callable[[Session], list[dict]], dict[str, Callable[[dict, str], bool]]]] = {
    "Practitioner": (lambda s: [fhir.practitioner(c) for c in clinicians(s)], {"name": _named}),
    "PractitionerRole": (lambda s: [fhir.practitioner_role(c) for c in clinicians(s)],
                         {"practitioner": _refers("practitioner", "Practitioner"),
                          "location": _refers("location", "Location"), "specialty": _coded("specialty")}),
    "Location": (locations, {"name": _named, "partof": _refers("partOf", "Location")}),
    "Device": (_devices, {"location": _refers("location", "Location"), "type": _coded("type")}),
    "HealthcareService": (_services, {"location": _refers("location", "Location"), "service-type": _coded("type"),
                                      "name": _named}),
    "Schedule": (schedules, {"actor": _actor, "service-type": _coded("serviceType")}),
}


def _in_service(resource: dict) -> bool:
    """Archived clinicians, rooms, devices and services (inactive) are left out of searches; a read still finds them."""
    return resource.get("active", True) and resource.get("status", "active") == "active"


def _directory_search(resource_type: str):
    build, filters = DIRECTORY[resource_type]

    def search(request: Request, session: SessionDep, form: SearchForm = None):
        search = Search.read(request, form, resource_type, directory_parameters(filters))
        found = [resource for resource in build(session) if _in_service(resource)]
        for name, values in search.params.items():
            for value in values:
                if name == "_id":
                    found = [r for r in found if r["id"] in value.split(",")]
                else:
                    found = [r for r in found if any(filters[name](r, v) for v in value.split(","))]
        return search.offset_page(found)

    def read(ident: str, session: SessionDep):
        match = next((r for r in build(session) if r["id"] == ident), None)
        if match is None:
            raise NotFound(resource_type, ident)
        return match

    search.__doc__ = f"Search {resource_type} resources (a searchset Bundle, paged by _offset)."
    read.__doc__ = f"Read one {resource_type}."
    return search, read


for _type in DIRECTORY:
    _search, _read = _directory_search(_type)
    router.add_api_route(f"/{_type}", _search, methods=["GET"], name=f"search {_type}",
                         dependencies=[Depends(staff_access)],
                         openapi_extra=documented(directory_parameters(DIRECTORY[_type][1])))
    router.add_api_route(f"/{_type}/_search", _search, methods=["POST"], name=f"search {_type} (form)",
                         dependencies=[Depends(staff_access)],
                         openapi_extra=documented(directory_parameters(DIRECTORY[_type][1]), form=True))
    router.add_api_route(f"/{_type}/{{ident}}", _read, methods=["GET"], name=f"read {_type}",
                         dependencies=[Depends(staff_access)])
