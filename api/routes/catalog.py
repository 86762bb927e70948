"""The catalog collections under /api/v1: who, what and where the clinic schedules."""

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import or_

from api.catalog import InServiceFilter, catalog_router
from api.deps import get_current_user, require_role
from api.schemas import catalog as schemas
from api.schemas.common import Ident, Text
from api.schemas import people, plans
from data import entities
from data.enums import Certification, Role, RoomKind
from data.errors import Conflict
from data.tables import Clinician, ClinicianCertification, Patient

anyone = [Depends(get_current_user)]
admin = [Depends(require_role(Role.ADMIN))]
desk = [Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


class ClinicianFilter(InServiceFilter):
    location_id: Ident | None = None
    certification: Certification | None = None


class DeviceFilter(InServiceFilter):
    location_id: Ident | None = None
    device_type_id: Ident | None = None


class RoomFilter(InServiceFilter):
    location_id: Ident | None = None
    kind: RoomKind | None = None


class PatientFilter(BaseModel):
    name: Text | None = Field(default=None, max_length=120)


class UserFilter(BaseModel):
    role: Role | None = None


def clinicians_where(query: ClinicianFilter) -> list:
    clauses = []
    if query.location_id is not None:
        clauses.append(Clinician.location_id == query.location_id)
    if query.certification is not None:
        clauses.append(Clinician.certification_links.any(ClinicianCertification.certification == query.certification))
    return clauses


def patients_where(query: PatientFilter) -> list:
    """Front-desk search: every word must start a given or family name (case-insensitive, literally)."""
    clauses = []
    for word in (query.name or "").split():
        prefix = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(or_(Patient.given_name.ilike(prefix, escape="\\"),
                           Patient.family_name.ilike(prefix, escape="\\")))
    return clauses


def refuse_self_delete(user, record) -> None:
    if user.id == record.id:
        raise Conflict("you cannot delete your own account")


router = APIRouter()
for collection in (
    catalog_router(
        entity=entities.LOCATIONS, path="/locations", fields=schemas.LocationFields, create=schemas.LocationCreate,
        update=schemas.LocationUpdate, public=schemas.LocationPublic, read_access=anyone, write_access=admin,
    ),
    catalog_router(
        entity=entities.CLINICIANS, path="/clinicians", fields=schemas.ClinicianFields,
        create=schemas.ClinicianCreate, update=schemas.ClinicianUpdate, public=schemas.ClinicianPublic,
        read_access=anyone, write_access=admin, filters=ClinicianFilter, where=clinicians_where,
    ),
    catalog_router(
        entity=entities.DEVICE_TYPES, path="/device-types", fields=schemas.DeviceTypeFields,
        create=schemas.DeviceTypeCreate, update=schemas.DeviceTypeUpdate, public=schemas.DeviceTypePublic,
        read_access=anyone, write_access=admin,
    ),
    catalog_router(
        entity=entities.DEVICES, path="/devices", fields=schemas.DeviceFields, create=schemas.DeviceCreate,
        update=schemas.DeviceUpdate, public=schemas.DevicePublic, read_access=anyone, write_access=admin,
        filters=DeviceFilter,
    ),
    catalog_router(
        entity=entities.ROOMS, path="/rooms", fields=schemas.RoomFields, create=schemas.RoomCreate,
        update=schemas.RoomUpdate, public=schemas.RoomPublic, read_access=anyone, write_access=admin,
        filters=RoomFilter,
    ),
    catalog_router(
        entity=entities.SERVICES, path="/services", fields=schemas.ServiceFields, create=schemas.ServiceCreate,
        update=schemas.ServiceUpdate, public=schemas.ServicePublic, read_access=anyone, write_access=admin,
        filters=InServiceFilter,
    ),
    catalog_router(
        entity=entities.PLAN_TEMPLATES, path="/plan-templates", fields=plans.TemplateFields,
        create=plans.TemplateCreate, update=plans.TemplateUpdate, public=plans.TemplatePublic, read_access=anyone,
        write_access=admin,
    ),
    catalog_router(
        entity=entities.PATIENTS, path="/patients", fields=people.PatientFields, create=people.PatientCreate,
        update=people.PatientUpdate, public=people.PatientPublic, read_access=desk, write_access=desk,
        filters=PatientFilter, where=patients_where,
    ),
    catalog_router(
        entity=entities.USERS, path="/users", fields=people.UserFields, create=people.UserCreate,
        update=people.UserUpdate, public=people.UserPublic, read_access=admin, write_access=admin,
        filters=UserFilter, before_delete=refuse_self_delete,
    ),
):
    router.include_router(collection)
