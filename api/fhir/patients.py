"""FHIR Patients: read, search, create (to book a new patient) and update, for the front desk and administrators.

Clinicians do not get patients here, as on the REST side (``/api/v1/patients`` is the desk's). A patient is
created and updated through the same catalog code and schema as ``/api/v1/patients``, so the same rules hold
(names, a plausible birth date, phone and e-mail formats); a Patient element the clinic does not keep (gender,
address, ...) is not stored: scheduling keeps only what it needs. An erased patient reads as its id and nothing
else, and is never given data again.
"""

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Request, status
from fhir.resources.R4B.patient import Patient as FHIRPatient
from pydantic import ValidationError
from sqlalchemy import and_, false, func, or_
from sqlmodel import select

from api.deps import SessionDep
from api.fhir import conditional, resources as fhir
from api.fhir.common import Desk, documented, stored
from api.fhir.search import Search, SearchError, SearchForm
from api.openapi import also_answers
from api.preconditions import IfMatch, require_version
from api.routes.catalog import PatientFilter, digits_of, literally, patients_where, phone_digits
from api.schemas.people import PatientCreate
from api.urls import absolute_url
from data import catalog, entities
from data.errors import Conflict, Invalid, NotFound
from data.tables import Patient

router = APIRouter()
PATIENT_PARAMETERS = {"_id": "token", "identifier": "token", "name": "string", "family": "string",
                      "given": "string", "birthdate": "date", "telecom": "token", "phone": "token", "email": "token"}
BY_ID = {"_id", "identifier"}  # the only criteria an erased patient still matches
PREFIXES = ("eq", "ne", "ge", "gt", "le", "lt")
MIN_PHONE_DIGITS = 7  # a whole number, its country code left out or not


@router.get("/Patient", openapi_extra=documented(PATIENT_PARAMETERS))
@router.post("/Patient/_search", openapi_extra=documented(PATIENT_PARAMETERS, form=True))
def search_patients(request: Request, session: SessionDep, _: Desk, form: SearchForm = None):
    """Patients by ``_id``, ``identifier``, ``name`` (words starting a given or family name), ``family``,
    ``given`` (starting with), ``birthdate`` (with prefixes), ``telecom``, ``phone`` (the number's digits, its
    country code may be left out) and ``email`` (the whole address, any case). Repeated parameters must all hold;
    comma-separated values are alternatives. In id order, paged by ``_offset``."""
    search = Search.read(request, form, "Patient", PATIENT_PARAMETERS)
    statement = select(Patient)
    for name, values in sorted(search.params.items()):
        for value in values:
            statement = statement.where(or_(*(_criterion(name, alternative) for alternative in value.split(","))))
    if set(search.params) - BY_ID:
        statement = statement.where(Patient.erased_at.is_(None))  # matched on a pseudonym, not on the person
    rows = session.exec(statement.order_by(Patient.id).offset(search.offset).limit(search.count + 1)).all()
    page, more = rows[:search.count], len(rows) > search.count
    return search.bundle(
        [fhir.patient(row) for row in page], cheap=True, place=search.offset,
        total=lambda: session.exec(select(func.count()).select_from(statement.subquery())).one(),
        following=search.offset + search.count if more and page else None,
        previous=max(search.offset - search.count, 0) if search.offset and search.count else None)


def _criterion(name: str, value: str):
    """One search parameter's value as a condition on the patient table."""
    if not value.isprintable():
        raise SearchError(f"{name} must be printable text")
    if name == "_id":
        return _is(value)
    if name == "identifier":
        system, _, code = value.rpartition("|")
        return _is(code) if system in ("", fhir.PATIENT_SYSTEM) else false()
    if name == "birthdate":
        return _born(value)
    if name in ("name", "family", "given"):
        if not value.strip():
            raise SearchError(f"{name} needs some letters to look for")
        if name == "name":
            return _demographic(name=value)
        column = Patient.family_name if name == "family" else Patient.given_name
        return column.ilike(literally(value.strip()) + "%", escape="\\")
    system, _, contact = value.rpartition("|") if name == "telecom" else (name, "", value)
    if system not in ("", "phone", "sms", "email"):
        raise SearchError("telecom is searched as phone|<number>, email|<address> or either alone")
    digits = digits_of(contact)
    if system in ("phone", "sms") and len(digits) < MIN_PHONE_DIGITS:
        raise SearchError(f"{name}: give the whole number, at least {MIN_PHONE_DIGITS} digits")
    by_phone = phone_digits(Patient.phone).endswith(digits) if len(digits) >= MIN_PHONE_DIGITS else false()
    by_email = func.lower(Patient.email) == contact.strip().lower()
    return {"phone": by_phone, "sms": by_phone, "email": by_email}.get(system, or_(by_phone, by_email))


def _is(text: str):
    number = fhir.record_id(text)
    return Patient.id == number if number else false()


def _demographic(**criteria):
    """The REST search's own rule for a criterion (``api.routes.catalog.patients_where``)."""
    try:
        return and_(*patients_where(PatientFilter(**criteria)))
    except ValidationError as exc:
        raise SearchError(f"{next(iter(criteria))}: {exc.errors()[0]['msg']}") from None


def _born(value: str):
    """``birthdate`` with a FHIR prefix; a year or a month stands for all its days."""
    prefix, text = (value[:2], value[2:]) if value[:2] in PREFIXES else ("eq", value)
    try:
        first = date.fromisoformat({4: f"{text}-01-01", 7: f"{text}-01"}.get(len(text), text))
    except ValueError:
        raise SearchError(f"birthdate {value[:40]!r} is not a date like 1984-07-02 (or 1984-07, 1984)") from None
    try:
        after = {4: lambda: first.replace(year=first.year + 1),
                 7: lambda: (first.replace(day=28) + timedelta(days=4)).replace(day=1)}.get(
            len(text), lambda: first + timedelta(days=1))()
    except (OverflowError, ValueError):  # the calendar's last year, month or day
        after = date.max
    born = Patient.birth_date
    return {"eq": (born >= first) & (born < after), "ne": (born < first) | (born >= after), "ge": born >= first,
            "gt": born >= after, "le": born < after, "lt": born < first}[prefix]


@router.get("/Patient/{ident}", responses=conditional.NOT_MODIFIED)
def read_patient(ident: str, session: SessionDep, _: Desk, if_none_match: conditional.IfNoneMatch = None):
    """The patient and its version (``meta.versionId``, ETag); an erased one is its id and nothing else."""
    return conditional.read(fhir.patient(stored(session, Patient, ident)), if_none_match)


@router.get("/Patient/{ident}/_history/{version_id}")
def read_patient_version(ident: str, version_id: conditional.VersionId, session: SessionDep, _: Desk):
    """vread: the current version only (an older one is a 404 saying so)."""
    return conditional.version_read(fhir.patient(stored(session, Patient, ident)), version_id)


def _fields(body: dict, ident: str | None = None) -> PatientCreate:
    """What the clinic keeps of a FHIR Patient, checked by the REST API's own schema; errors name FHIR elements.

    ``ident``: the patient an update is for, whose own identifier the body may carry back."""
    if not isinstance(body, dict) or body.get("resourceType") != "Patient":
        raise Invalid(("resourceType",), "the body must be a FHIR Patient")
    try:
        patient = FHIRPatient.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Invalid(tuple(map(str, first["loc"])), f"not a valid FHIR Patient: {first['msg']}") from None
    if any(identifier.system == fhir.PATIENT_SYSTEM and identifier.value != ident
           for identifier in patient.identifier or []):
        raise Invalid(("identifier",), f"the server gives each patient its {fhir.PATIENT_SYSTEM} identifier (its "
                                       "id): leave it out, or on an update send the patient's own")
    names = patient.name or []
    name = next((n for n in names if n.use == "official"), names[0] if names else None)
    if name is None or not name.family or not name.given:
        raise Invalid(("name",), "a patient needs a name with a family name and a given name")
    telecom = patient.telecom or []
    at = names.index(name)
    where = {"given_name": f"name[{at}].given", "family_name": f"name[{at}].family", "birth_date": "birthDate"}
    values = {"given_name": " ".join(name.given), "family_name": name.family, "birth_date": body.get("birthDate")}
    for field, systems in (("phone", ("phone", "sms")), ("email", ("email",))):
        index = next((i for i, point in enumerate(telecom) if point.system in systems and point.value), None)
        if index is not None:
            values[field], where[field] = telecom[index].value, f"telecom[{index}].value"
    try:
        return PatientCreate.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        element = where.get(str(first["loc"][0]), "") if first["loc"] else ""
        raise Invalid((element,), first["msg"]) from None


@router.post("/Patient", status_code=status.HTTP_201_CREATED, responses=conditional.PRECONDITION)
def create_patient(request: Request, session: SessionDep, user: Desk, body: Annotated[dict, Body()],
                   if_none_exist: conditional.IfNoneExist = None):
    """Register a new patient (a name with family and given names, birthDate, a phone and an e-mail in telecom).

    With ``If-None-Exist`` (Patient search parameters, e.g. ``family=Rivera&given=Ana&birthdate=1984-07-02``)
    the patient that matches is answered (200) and nobody is registered; several matches are a 412.
    """
    fields = _fields(body)
    if if_none_exist is not None:
        found = conditional.existing(request, session, if_none_exist, "Patient",
                                     lambda query: search_patients(query, session, user))
        if found is not None:
            return conditional.answer(found)
    values = fields.model_dump()
    record = catalog.save(session, entities.PATIENTS, Patient(), values, set(values))
    made = fhir.patient(record)
    return conditional.answer(made, status.HTTP_201_CREATED, {
        "Location": absolute_url(request, f"/fhir/Patient/{made['id']}/_history/{made['meta']['versionId']}")})


@router.put("/Patient/{ident}", responses={**conditional.PRECONDITION, **also_answers(409)})
def update_patient(ident: str, session: SessionDep, _: Desk, body: Annotated[dict, Body()],
                   if_match: IfMatch = None):
    """Replace what the clinic keeps of the patient: name, birthDate, and the phone and e-mail in telecom (one left
    out is cleared, as a FHIR update replaces the whole). Message consents are kept (they are the patient's own
    choice, not the record system's). ``If-Match: W/"<versionId>"`` makes the change only on that version (412
    otherwise). An erased patient cannot be given data again (409). No update-as-create: an unknown id is a 404.
    """
    fields = _fields(body, ident)
    if body.get("id") != ident:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the body's id must be the one in the URL, {ident!r}")
    if (number := fhir.record_id(ident)) is None:
        raise NotFound("Patient", ident)
    record = catalog.locked(session, entities.PATIENTS, number)
    require_version(if_match, record.version, f"Patient/{ident}")
    if record.erased_at is not None:
        raise Conflict(f"Patient/{ident} was erased: its personal data is gone for good and is not given back; "
                       "register the person again if they return")
    values = fields.model_dump(exclude={"email_messages", "sms_messages"})
    return conditional.answer(fhir.patient(catalog.save(session, entities.PATIENTS, record, values, set(values))))
