"""The catalog collections under /api/v1: who, what and where the clinic schedules."""

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, or_

from api.catalog import InServiceFilter, catalog_router
from api.deps import get_current_user, require_role
from api.schemas import catalog as schemas
from api.schemas.common import Day, IdentParam, Text
from api.schemas import people, plans
from data import entities
from data.enums import Certification, Role, RoomKind
from data.errors import Conflict
from data.tables import Clinician, ClinicianCertification, Patient

anyone = [Depends(get_current_user)]
admin = [Depends(require_role(Role.ADMIN))]
desk = [Depends(require_role(Role.ADMIN, Role.FRONT_DESK))]


class ClinicianFilter(InServiceFilter):
    location_id: IdentParam | None = None
    certification: Certification | None = None


class DeviceFilter(InServiceFilter):
    location_id: IdentParam | None = None
    device_type_id: IdentParam | None = None


class RoomFilter(InServiceFilter):
    location_id: IdentParam | None = None
    kind: RoomKind | None = None


MIN_PHONE_DIGITS = 3


def digits_of(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def literally(text: str) -> str:
    """``text`` for a LIKE pattern with ``escape="\\"``: its % and _ are matched as themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class PatientFilter(BaseModel):
    """The front desk's search; every criterion given must hold."""

    name: Text | None = Field(default=None, max_length=120, description="Words starting a given or family name")
    phone: Text | None = Field(default=None, max_length=32, description=(
        "Digits found in the phone number however it was written (spaces, brackets and dashes ignored)"))
    email: Text | None = Field(default=None, max_length=254, description="Part of the e-mail address, any case")
    birth_date: Day | None = None
    id: list[IdentParam] | None = Field(default=None, max_length=200, description=(
        "These patients (repeat it: id=3&id=8): the patients a list of sessions names, in one request"))

    @field_validator("phone")
    @classmethod
    def _enough_digits(cls, value: str | None) -> str | None:
        if value is not None and len(digits_of(value)) < MIN_PHONE_DIGITS:
            raise ValueError(f"give at least {MIN_PHONE_DIGITS} digits of the phone number")
        return value


class UserFilter(BaseModel):
    role: Role | None = None


def clinicians_where(query: ClinicianFilter) -> list:
    clauses = []
    if query.location_id is not None:
        clauses.append(Clinician.location_id == query.location_id)
    if query.certification is not None:
        clauses.append(Clinician.certification_links.any(ClinicianCertification.certification == query.certification))
    return clauses


def phone_digits(column):
    """The column with what a stored phone number may hold besides digits taken out (see api.schemas.people)."""
    for char in " ()-.+":
        column = func.replace(column, char, "")
    return column


def patients_where(query: PatientFilter) -> list:
    """Front-desk search: every word must start a given or family name, the phone's digits must contain the digits
    asked for, the e-mail the text asked for (case-insensitive, wildcards taken literally), the birth date match."""
    clauses = []
    for word in (query.name or "").split():
        prefix = literally(word) + "%"
        clauses.append(or_(Patient.given_name.ilike(prefix, escape="\\"),
                           Patient.family_name.ilike(prefix, escape="\\")))
    if query.phone is not None:
        clauses.append(phone_digits(Patient.phone).contains(digits_of(query.phone)))
    if query.email is not None and query.email.strip():
        clauses.append(Patient.email.ilike(f"%{literally(query.email.strip())}%", escape="\\"))
    if query.birth_date is not None:
        clauses.append(Patient.birth_date == query.birth_date)
    if query.id:
        clauses.append(Patient.id.in_(query.id))
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
