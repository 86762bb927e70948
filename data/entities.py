"""What is special about each catalog table: keys, references, child rows, checks."""

from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from data.accounts import hash_password, keep_an_active_admin
from data.catalog import Children, Entity
from data.enums import ResourceKind
from data.errors import Invalid
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
    Patient,
    PlanTemplate,
    Room,
    Service,
    ServiceDevice,
    ShiftBreak,
    TemplateLine,
    TemplateLink,
    User,
)


def _names(rows, label: str) -> list[str]:
    return [f"{label} {row.id} ({getattr(row, 'name', None) or getattr(row, 'username', '')})" for row in rows]


def _location_blockers(session: Session, location: Location) -> list[str]:
    return [
        *_names(session.exec(select(Clinician).where(Clinician.location_id == location.id)), "clinician"),
        *_names(session.exec(select(Room).where(Room.location_id == location.id)), "room"),
        *_names(session.exec(select(Device).where(Device.location_id == location.id)), "device"),
    ]


def _device_type_blockers(session: Session, device_type: DeviceType) -> list[str]:
    needing = select(Service).join(ServiceDevice).where(ServiceDevice.device_type_id == device_type.id)
    return [
        *_names(session.exec(select(Device).where(Device.device_type_id == device_type.id)), "device"),
        *_names(session.exec(needing), "service"),
    ]


def _future_appointments(session: Session, kind: ResourceKind, ident: int) -> list[str]:
    """Live appointments still to come that this resource serves: deleting it would break a promise."""
    rows = session.exec(
        select(Appointment).join(Allocation)
        .where(Allocation.resource_kind == kind, Allocation.resource_id == ident, Allocation.live,
               Appointment.ends_at > datetime.now(UTC))
        .order_by(Appointment.starts_at)
    )
    return [f"appointment {a.id} ({a.status.value}, {a.starts_at.isoformat()})" for a in rows]


def _clinician_blockers(session: Session, clinician: Clinician) -> list[str]:
    return [
        *_names(session.exec(select(User).where(User.clinician_id == clinician.id)), "user"),
        *_future_appointments(session, ResourceKind.CLINICIAN, clinician.id),
    ]


def _device_blockers(session: Session, device: Device) -> list[str]:
    return _future_appointments(session, ResourceKind.DEVICE, device.id)


def _room_blockers(session: Session, room: Room) -> list[str]:
    return _future_appointments(session, ResourceKind.ROOM, room.id)


def _patient_blockers(session: Session, patient: Patient) -> list[str]:
    """Any appointment, past or future: it is part of the record the clinic must keep."""
    rows = session.exec(select(Appointment).where(Appointment.patient_id == patient.id).order_by(Appointment.id))
    return [f"appointment {a.id} ({a.status.value}, {a.starts_at.isoformat()})" for a in rows]


def _service_blockers(session: Session, service: Service) -> list[str]:
    rows = session.exec(select(Appointment).where(Appointment.service_id == service.id).order_by(Appointment.id))
    return [f"appointment {a.id} ({a.status.value}, {a.starts_at.isoformat()})" for a in rows]


def _service_device_check(session: Session, values: dict) -> None:
    """Every needed device type exists, and some location has enough units to serve the service."""
    for index, need in enumerate(values.get("device_needs") or []):
        loc = ("device_needs", index)
        device_type = session.get(DeviceType, need["device_type_id"])
        if device_type is None:
            raise Invalid((*loc, "device_type_id"), f"device type {need['device_type_id']} does not exist")
        units_per_location = (
            select(func.count().label("units"))
            .where(Device.device_type_id == device_type.id)
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
    """Every line and link of a template or plan names a service the clinic has."""
    for index, line in enumerate(values.get("lines") or []):
        if session.get(Service, line["service_id"]) is None:
            raise Invalid(("lines", index, "service_id"), f"service {line['service_id']} does not exist")


def _make_shift(shift: dict) -> ClinicianShift:
    breaks = [ShiftBreak(**pause) for pause in shift["breaks"]]
    return ClinicianShift(weekday=shift["weekday"], starts=shift["starts"], ends=shift["ends"], breaks=breaks)


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
)

DEVICE_TYPES = Entity(label="device type", table=DeviceType, unique=[("code",)], blockers=_device_type_blockers)

DEVICES = Entity(
    label="device",
    table=Device,
    unique=[("location_id", "name")],
    references={"device_type_id": DeviceType, "location_id": Location},
    children={"maintenance": Children("maintenance", lambda window: DeviceMaintenance(**window))},
    blockers=_device_blockers,
)

ROOMS = Entity(label="room", table=Room, unique=[("location_id", "name")], references={"location_id": Location},
               blockers=_room_blockers)

SERVICES = Entity(
    label="service",
    table=Service,
    unique=[("code",)],
    children={"device_needs": Children("device_needs", lambda need: ServiceDevice(**need))},
    check=_service_device_check,
    blockers=_service_blockers,
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

PATIENTS = Entity(label="patient", table=Patient, blockers=_patient_blockers)

USERS = Entity(
    label="user",
    table=User,
    unique=[("username",)],
    references={"clinician_id": Clinician},
    write_extra=_set_password,
    guard=keep_an_active_admin,
)
