"""What is special about each catalog table: keys, references, child rows, checks."""

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from data.accounts import hash_password, keep_an_active_admin
from data.catalog import Children, Entity, in_service
from data.enums import AppointmentStatus, PlanStatus, ResourceKind, WaitlistStatus
from data.errors import Conflict, Invalid
from data.tables import (
    Allocation,
    Appointment,
    Clinician,
    ClinicianCertification,
    ClinicianException,
    ClinicianShift,
    Device,
    DeviceMaintenance,
    DeviceType,
    Location,
    LocationHours,
    OptimizationRun,
    Patient,
    PlanLine,
    PlanSession,
    PlanTemplate,
    Room,
    Service,
    ServiceDevice,
    ShiftBreak,
    TemplateLine,
    TemplateLink,
    TreatmentPlan,
    User,
    VisitRequest,
    WaitlistRequest,
)


def _names(rows, label: str) -> list[str]:
    return [f"{label} {row.id} ({getattr(row, 'name', None) or getattr(row, 'username', '')})" for row in rows]


def _counted(session: Session, column, ident: int, what: str) -> list[str]:
    """"12 appointments (history kept)": records of a kind named by their number, where listing them would not help."""
    count = session.exec(select(func.count()).where(column == ident)).one()
    return [f"{count} {what}{'s' if count != 1 else ''} (history kept)"] if count else []


def _location_blockers(session: Session, location: Location, _now: datetime) -> list[str]:
    """Its resources, and the history that names it: appointments, treatment plans and nightly runs (a run's record
    went with a deleted location, and a plan or appointment made the database refuse in its own words)."""
    return [
        *_names(session.exec(select(Clinician).where(Clinician.location_id == location.id)), "clinician"),
        *_names(session.exec(select(Room).where(Room.location_id == location.id)), "room"),
        *_names(session.exec(select(Device).where(Device.location_id == location.id)), "device"),
        *_counted(session, Appointment.location_id, location.id, "appointment"),
        *_counted(session, TreatmentPlan.location_id, location.id, "treatment plan"),
        *_counted(session, OptimizationRun.location_id, location.id, "optimization run"),
    ]


def _device_type_blockers(session: Session, device_type: DeviceType, _now: datetime) -> list[str]:
    needing = select(Service).join(ServiceDevice).where(ServiceDevice.device_type_id == device_type.id)
    return [
        *_names(session.exec(select(Device).where(Device.device_type_id == device_type.id)), "device"),
        *_names(session.exec(needing), "service"),
    ]


def described(appointments) -> list[str]:
    """"appointment 12 (booked, 2027-03-03T09:00:00-05:00)", the time in its location's zone, as the desk reads it."""
    return [f"appointment {a.id} ({a.status.value}, "
            f"{a.starts_at.astimezone(ZoneInfo(a.location.time_zone)).isoformat()})" for a in appointments]


def _future_appointments(session: Session, kind: ResourceKind, ident: int, now: datetime) -> list[str]:
    """Live appointments still to come that this resource serves: removing it would break a promise."""
    return described(session.exec(
        select(Appointment).join(Allocation)
        .where(Allocation.resource_kind == kind, Allocation.resource_id == ident, Allocation.live,
               Appointment.ends_at > now)
        .order_by(Appointment.starts_at)
    ))


def _has_served(kind: ResourceKind) -> Callable[[Session, SQLModel], bool]:
    """Whether any appointment, past or cancelled included, was ever given this resource."""
    def served(session: Session, record: SQLModel) -> bool:
        return session.exec(select(Allocation.id).where(Allocation.resource_kind == kind,
                                                        Allocation.resource_id == record.id).limit(1)).first() is not None
    return served


def _future_blockers(kind: ResourceKind) -> Callable[[Session, SQLModel, datetime], list[str]]:
    return lambda session, record, now: _future_appointments(session, kind, record.id, now)


def _clinician_blockers(session: Session, clinician: Clinician, now: datetime) -> list[str]:
    """Accounts still signing in as the clinician, and sessions still to give."""
    accounts = select(User).where(User.clinician_id == clinician.id, User.is_active)
    return [*_names(session.exec(accounts), "user"),
            *_future_appointments(session, ResourceKind.CLINICIAN, clinician.id, now)]


def _clinician_history(session: Session, clinician: Clinician) -> bool:
    """Sessions given, or an account (even a disabled one) whose actions the audit log names."""
    linked = session.exec(select(User.id).where(User.clinician_id == clinician.id).limit(1)).first()
    return linked is not None or _has_served(ResourceKind.CLINICIAN)(session, clinician)


def _patient_blockers(session: Session, patient: Patient, _now: datetime) -> list[str]:
    """Any appointment, past or future, treatment plan, waitlist entry or public request: it is part of the record
    the clinic must keep (erasure is how personal data goes)."""
    return [*described(session.exec(
        select(Appointment).where(Appointment.patient_id == patient.id).order_by(Appointment.id))),
        *(f"treatment plan {ident}" for ident in session.exec(
            select(TreatmentPlan.id).where(TreatmentPlan.patient_id == patient.id).order_by(TreatmentPlan.id))),
        *(f"waitlist entry {ident}" for ident in session.exec(
            select(WaitlistRequest.id).where(WaitlistRequest.patient_id == patient.id).order_by(WaitlistRequest.id))),
        *(f"public request {ident}" for ident in session.exec(
            select(VisitRequest.id).where(VisitRequest.patient_id == patient.id).order_by(VisitRequest.id)))]


def _service_blockers(session: Session, service: Service, now: datetime) -> list[str]:
    """Sessions still to give, templates that offer the service, and patients waiting for it."""
    coming = select(Appointment).where(
        Appointment.service_id == service.id, Appointment.ends_at > now,
        Appointment.status.in_((AppointmentStatus.PENDING, AppointmentStatus.BOOKED))).order_by(Appointment.starts_at)
    offering = select(PlanTemplate).where(PlanTemplate.id.in_(
        select(TemplateLine.template_id).where(TemplateLine.service_id == service.id))).order_by(PlanTemplate.id)
    # An offered request counts too: its offer, released or lapsed, puts it back to waiting for this service.
    waiting = select(WaitlistRequest).where(
        WaitlistRequest.service_id == service.id,
        WaitlistRequest.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED])).order_by(WaitlistRequest.id)
    return [*described(session.exec(coming)), *_names(session.exec(offering), "plan template"),
            *(f"waitlist request {request.id} ({request.status.value})" for request in session.exec(waiting)),
            *(f"treatment plan {plan_id} (a {service.name} session still to be given)"
              for plan_id in session.exec(_plans_still_giving(service.id)))]


def _plans_still_giving(service_id: int):
    """Plans of patients not erased with a session of the service still to be given: a draft or proposed plan's
    line, or a confirmed plan's session without a live appointment (the nightly run would place it). Archived, the
    service left such a session out of every night without a word (found 2026-12-01)."""
    live = (AppointmentStatus.PENDING, AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED,
            AppointmentStatus.FULFILLED)
    unplaced = select(PlanSession.plan_id).outerjoin(Appointment, Appointment.id == PlanSession.appointment_id).where(
        PlanSession.service_id == service_id,
        PlanSession.appointment_id.is_(None) | Appointment.status.not_in(live))
    drafted = select(PlanLine.plan_id).where(PlanLine.service_id == service_id)
    return select(TreatmentPlan.id).join(Patient, Patient.id == TreatmentPlan.patient_id).where(
        Patient.erased_at.is_(None),
        ((TreatmentPlan.status == PlanStatus.CONFIRMED) & TreatmentPlan.id.in_(unplaced))
        | ((TreatmentPlan.status != PlanStatus.CONFIRMED) & TreatmentPlan.id.in_(drafted))).order_by(TreatmentPlan.id)


def _service_history(session: Session, service: Service) -> bool:
    """Appointments, treatment plans or waitlist requests that named the service."""
    return any(session.exec(select(column).where(column == service.id).limit(1)).first() is not None
               for column in (Appointment.service_id, PlanLine.service_id, WaitlistRequest.service_id))


def _service_device_check(session: Session, values: dict) -> None:
    """Every needed device type exists, and some location has enough units to serve the service."""
    for index, need in enumerate(values.get("device_needs") or []):
        loc = ("device_needs", index)
        device_type = session.get(DeviceType, need["device_type_id"])
        if device_type is None:
            raise Invalid((*loc, "device_type_id"), f"device type {need['device_type_id']} does not exist")
        units_per_location = (
            select(func.count().label("units"))
            .where(Device.device_type_id == device_type.id, Device.archived_at.is_(None))
            .group_by(Device.location_id)
            .subquery()
        )
        most = session.exec(select(func.coalesce(func.max(units_per_location.c.units), 0))).one()
        if need["count"] > most:
            raise Invalid(
                (*loc, "count"),
                f"the service needs {need['count']} units of {device_type.name} at once, "
                f"but no location has more than {most}",
            )


def _services_exist(session: Session, values: dict) -> None:
    """Every line and link of a template names a service the clinic offers."""
    for index, line in enumerate(values.get("lines") or []):
        in_service(session, Service, line["service_id"], ("lines", index, "service_id"))


def _make_shift(shift: dict) -> ClinicianShift:
    breaks = [ShiftBreak(**pause) for pause in shift["breaks"]]
    return ClinicianShift(weekday=shift["weekday"], starts=shift["starts"], ends=shift["ends"], breaks=breaks)


def _no_enabled_account_for_an_archived_clinician(session: Session, values: dict) -> None:
    """Archiving a clinician is refused while an account signs in as them; enabling (or creating) one afterwards
    would undo that. A disabled account may still be edited: its name stays in the audit log."""
    ident = values.get("clinician_id")
    clinician = session.get(Clinician, ident) if ident is not None and values.get("is_active") else None
    if clinician is not None and clinician.archived_at is not None:
        raise Invalid(("is_active",), f"clinician {ident} ({clinician.name}) is archived; restore the clinician "
                                      "before enabling an account that signs in as them")


def _set_password(user: User, values: dict) -> None:
    if values.get("password"):
        user.password_hash = hash_password(values["password"])


LOCATIONS = Entity(
    label="location",
    table=Location,
    unique=[("name",)],
    children={"opening_hours": Children("opening_hours", lambda hours: LocationHours(**hours))},
    blockers=_location_blockers,
)

CLINICIANS = Entity(
    label="clinician",
    table=Clinician,
    references={"location_id": Location},
    children={
        "certifications": Children("certification_links", lambda code: ClinicianCertification(certification=code)),
        "shifts": Children("shifts", _make_shift),
        "exceptions": Children("exceptions", lambda exception: ClinicianException(**exception)),
    },
    blockers=_clinician_blockers,
    history=_clinician_history,
)

DEVICE_TYPES = Entity(label="device type", table=DeviceType, unique=[("code",)], blockers=_device_type_blockers)

DEVICES = Entity(
    label="device",
    table=Device,
    unique=[("location_id", "name")],
    references={"device_type_id": DeviceType, "location_id": Location},
    children={"maintenance": Children("maintenance", lambda window: DeviceMaintenance(**window))},
    blockers=_future_blockers(ResourceKind.DEVICE),
    history=_has_served(ResourceKind.DEVICE),
)

ROOMS = Entity(label="room", table=Room, unique=[("location_id", "name")], references={"location_id": Location},
               blockers=_future_blockers(ResourceKind.ROOM), history=_has_served(ResourceKind.ROOM))

SERVICES = Entity(
    label="service",
    table=Service,
    unique=[("code",)],
    children={"device_needs": Children("device_needs", lambda need: ServiceDevice(**need))},
    check=_service_device_check,
    blockers=_service_blockers,
    history=_service_history,
)

PLAN_TEMPLATES = Entity(
    label="plan template",
    table=PlanTemplate,
    unique=[("code",)],
    children={
        "lines": Children("lines", lambda line: TemplateLine(**line)),
        "links": Children("links", lambda link: TemplateLink(**link)),
    },
    check=_services_exist,
)

def _not_erased(_session: Session, patient: Patient, values: dict | None) -> None:
    """An erased patient's record stays erased: a PATCH wrote a name and an e-mail address back into it, during the
    erasure or after it (found by a probe). The record is read under its lock, the one erasure takes."""
    if values is not None and patient.erased_at is not None:
        raise Conflict(f"patient {patient.id} was erased; register the person again")


PATIENTS = Entity(label="patient", table=Patient, blockers=_patient_blockers, guard=_not_erased)

USERS = Entity(
    label="user",
    table=User,
    unique=[("username",)],
    references={"clinician_id": Clinician},
    check=_no_enabled_account_for_an_archived_clinician,
    write_extra=_set_password,
    guard=keep_an_active_admin,
)
