"""The clinic's records as FHIR R4 resources (JSON), and the ids that tie them together.

Ids: Practitioner and PractitionerRole share the clinician's id; a clinic
is ``Location/<id>`` and a room ``Location/room-<id>``; Device, HealthcareService
and Appointment use their own ids. There is one Schedule per clinician
(``practitioner-<id>``), device unit (``device-<id>``), room (``room-<id>``)
and service (``service-<id>``, the one the public books against), and one per
service and clinic (``service-<id>-l<location>``, whose only actor is that clinic:
the shape SMART Scheduling Links asks for). A free Slot
of a service schedule is ``s<service>-l<location>-c<clinician>-t<minute>``
(minutes since the epoch), so booking it needs no stored slot; a busy Slot is
``busy-<allocation id>``. An Appointment names the free Slot it takes (rebuilt from its service, clinic,
clinician and start), and a Patient is ``Patient/<id>``, that id also its identifier in ``PATIENT_SYSTEM``.

``meta.versionId`` is the row's version (it moves on with every change), so clients can make versioned updates
(``api.fhir.conditional``).

Every time carries its location's offset. The resources are plain dicts; the
tests validate each kind against the ``fhir.resources`` R4B models.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from api.schemas.common import END_OF_CALENDAR, EARLIEST, MAX_IDENT
from data.enums import AppointmentStatus, ResourceKind
from data.tables import Allocation, Appointment, Clinician, Device, DeviceType, Location, Patient, Room, Service
from scheduler.clock import to_minute

SYSTEM = "urn:clinic-scheduler"
SERVICE_SYSTEM = f"{SYSTEM}:service"
CERTIFICATION_SYSTEM = f"{SYSTEM}:certification"
DEVICE_TYPE_SYSTEM = f"{SYSTEM}:device-type"
PATIENT_SYSTEM = f"{SYSTEM}:patient"
LOCATION_SYSTEM = f"{SYSTEM}:location"
FREE_SLOT = re.compile(r"s([0-9]+)-l([0-9]+)-c([0-9]+)-t([0-9]{1,12})")
BUSY_SLOT = re.compile(r"busy-([0-9]+)")
SCHEDULE = re.compile(r"(practitioner|device|room|service)-([0-9]+)")
FIRST_MINUTE, END_MINUTE = (int(moment.timestamp()) // 60 for moment in (EARLIEST, END_OF_CALENDAR))


def record_id(text: str) -> int | None:
    """The record id ``text`` spells in ASCII digits, or None when it cannot name a stored record at all."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if 1 <= number <= MAX_IDENT else None


@dataclass(frozen=True)
class FreeSlotId:
    service_id: int
    location_id: int
    clinician_id: int
    minute: int

    def __str__(self) -> str:
        return f"s{self.service_id}-l{self.location_id}-c{self.clinician_id}-t{self.minute}"

    @classmethod
    def parse(cls, text: str) -> "FreeSlotId | None":
        """The slot an id names, or None when it is not a free slot's id on the calendar."""
        match = FREE_SLOT.fullmatch(text)
        if match is None:
            return None
        ids = [record_id(group) for group in match.groups()[:3]]
        minute = int(match.group(4))
        if None in ids or not FIRST_MINUTE <= minute < END_MINUTE:
            return None
        return cls(*ids, minute)


def concept(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def in_service(record: Clinician | Device | Room | Service) -> bool:
    """Archived records stay readable (past appointments name them) but are marked inactive."""
    return record.archived_at is None


def practitioner(clinician: Clinician) -> dict:
    return {"resourceType": "Practitioner", "id": str(clinician.id), "active": in_service(clinician),
            "name": [{"text": clinician.name}]}


def practitioner_role(clinician: Clinician) -> dict:
    return {
        "resourceType": "PractitionerRole", "id": str(clinician.id), "active": in_service(clinician),
        "practitioner": {"reference": f"Practitioner/{clinician.id}", "display": clinician.name},
        "location": [{"reference": f"Location/{clinician.location_id}"}],
        "specialty": [concept(CERTIFICATION_SYSTEM, c.value, c.label) for c in clinician.certifications],
    }


def clinic(location: Location) -> dict:
    """A clinic with its identifier, front desk's phone and web page, and its address as written and in parts."""
    resource = {"resourceType": "Location", "id": str(location.id),
                "identifier": [{"system": LOCATION_SYSTEM, "value": str(location.id)}],
                "status": "active", "name": location.name,
                "mode": "instance", "physicalType": concept("http://terminology.hl7.org/CodeSystem/location-physical-type",
                                                            "bu", "Building")}
    telecom = [{"system": system, "value": value} for system, value in (("phone", location.phone),
                                                                         ("url", location.website)) if value]
    if telecom:
        resource["telecom"] = telecom
    address = {"text": location.address} if location.address else {}
    if location.address_line:
        address |= {"line": [location.address_line], "city": location.city, "state": location.state,
                    "postalCode": location.postal_code}
    if address:
        resource["address"] = address
    return resource


def room(record: Room) -> dict:
    return {"resourceType": "Location", "id": f"room-{record.id}", "name": record.name,
            "status": "active" if in_service(record) else "inactive",
            "mode": "instance",
            "physicalType": concept("http://terminology.hl7.org/CodeSystem/location-physical-type", "ro", "Room"),
            "partOf": {"reference": f"Location/{record.location_id}"}}


def device(unit: Device, device_type: DeviceType) -> dict:
    return {"resourceType": "Device", "id": str(unit.id), "status": "active" if in_service(unit) else "inactive",
            "deviceName": [{"name": unit.name, "type": "user-friendly-name"}],
            "type": concept(DEVICE_TYPE_SYSTEM, device_type.code, device_type.name),
            "location": {"reference": f"Location/{unit.location_id}"}}


def healthcare_service(service: Service, location_ids: list[int]) -> dict:
    return {"resourceType": "HealthcareService", "id": str(service.id), "active": in_service(service),
            "name": service.name,
            "type": [concept(SERVICE_SYSTEM, service.code, service.name)],
            "location": [{"reference": f"Location/{ident}"} for ident in location_ids]}


def schedule(kind: str, ident: int, display: str, *, location_ids: list[int], service: Service | None = None,
             horizon: tuple[datetime, datetime] | None = None, active: bool = True) -> dict:
    actor = {"practitioner": "Practitioner/{}", "device": "Device/{}", "room": "Location/room-{}",
             "service": "HealthcareService/{}"}[kind].format(ident)
    resource = {"resourceType": "Schedule", "id": f"{kind}-{ident}", "active": active,
                "actor": [{"reference": actor, "display": display},
                          *({"reference": f"Location/{i}"} for i in location_ids)]}
    if service is not None:
        resource["serviceType"] = [concept(SERVICE_SYSTEM, service.code, service.name)]
    if horizon is not None:
        resource["planningHorizon"] = {"start": horizon[0].isoformat(), "end": horizon[1].isoformat()}
    return resource


def clinic_schedule_id(service_id: int, location_id: int) -> str:
    return f"service-{service_id}-l{location_id}"


def clinic_schedule(service: Service, location: Location) -> dict:
    """The service as one clinic gives it: a single actor, that clinic, and the service as its type."""
    return {"resourceType": "Schedule", "id": clinic_schedule_id(service.id, location.id),
            "active": in_service(service),
            "actor": [{"reference": f"Location/{location.id}", "display": location.name}],
            "serviceType": [concept(SERVICE_SYSTEM, service.code, service.name)]}


def free_slot(slot_id: FreeSlotId, service: Service, start: datetime, end: datetime) -> dict:
    return {"resourceType": "Slot", "id": str(slot_id), "schedule": {"reference": f"Schedule/service-{service.id}"},
            "serviceType": [concept(SERVICE_SYSTEM, service.code, service.name)], "status": "free",
            "start": start.isoformat(), "end": end.isoformat()}


def busy_slot(allocation: Allocation, schedule_id: str, appointment: Appointment, zone) -> dict:
    tentative = appointment.status == AppointmentStatus.PENDING
    return {"resourceType": "Slot", "id": f"busy-{allocation.id}", "schedule": {"reference": f"Schedule/{schedule_id}"},
            "status": "busy-tentative" if tentative else "busy",
            "start": allocation.starts_at.astimezone(zone).isoformat(),
            "end": allocation.ends_at.astimezone(zone).isoformat()}


PARTICIPANT_STATUS = {AppointmentStatus.PENDING: "tentative", AppointmentStatus.CANCELLED: "declined"}


def appointment(record: Appointment, service: Service, zone) -> dict:
    who = PARTICIPANT_STATUS.get(record.status, "accepted")
    references = [("Patient", record.patient_id), *(("Practitioner", i) for i in record.resource_ids(
        ResourceKind.CLINICIAN)), *(("Device", i) for i in sorted(record.resource_ids(ResourceKind.DEVICE))),
        *(("Location", f"room-{i}") for i in record.resource_ids(ResourceKind.ROOM)), ("Location", record.location_id)]
    resource = {
        "resourceType": "Appointment", "id": str(record.id),
        "meta": {"versionId": str(record.version), "lastUpdated": record.updated_at.astimezone(zone).isoformat()},
        "status": record.status.value,
        "serviceType": [concept(SERVICE_SYSTEM, service.code, service.name)],
        "start": record.starts_at.astimezone(zone).isoformat(), "end": record.ends_at.astimezone(zone).isoformat(),
        "minutesDuration": service.duration_minutes, "created": record.created_at.astimezone(zone).isoformat(),
        "participant": [{"actor": {"reference": f"{kind}/{ident}"}, "required": "required", "status": who}
                        for kind, ident in references],
    }
    if (slot := taken_slot(record)) is not None:
        resource["slot"] = [{"reference": f"Slot/{slot}"}]
    if record.status == AppointmentStatus.CANCELLED and record.cancel_reason:
        resource["cancelationReason"] = {"text": record.cancel_reason}
    return resource


def taken_slot(record: Appointment) -> FreeSlotId | None:
    """The free Slot the appointment was booked from (or moved to): its id is rebuilt, nothing is stored."""
    clinicians = record.resource_ids(ResourceKind.CLINICIAN)
    if len(clinicians) != 1:
        return None
    return FreeSlotId(record.service_id, record.location_id, clinicians[0], to_minute(record.starts_at))


def patient(record: Patient) -> dict:
    """Who the appointments are for; once erased, nothing but the pseudonymous id is left (as on the REST side)."""
    resource = {"resourceType": "Patient", "id": str(record.id), "meta": {"versionId": str(record.version)},
                "identifier": [{"use": "usual", "type": concept(
                    "http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number"),
                    "system": PATIENT_SYSTEM, "value": str(record.id)}],
                "active": record.erased_at is None}
    if record.erased_at is not None:
        return resource
    resource["name"] = [{"use": "official", "text": f"{record.given_name} {record.family_name}",
                         "family": record.family_name, "given": [record.given_name]}]
    resource["birthDate"] = record.birth_date.isoformat()
    telecom = [{"system": system, "value": value} for system, value in (("phone", record.phone),
                                                                         ("email", record.email)) if value]
    if telecom:
        resource["telecom"] = telecom
    return resource


def proposed_appointment(slot: FreeSlotId, service: Service, start: datetime, end: datetime, patient_id: int | None,
                         requested: tuple[datetime, datetime]) -> dict:
    """An Argonaut ``$find`` answer: a free slot as a ``proposed`` Appointment, stored nowhere.

    Its id names the slot (and the patient, when known), so ``$hold`` and ``$book`` can act on it later.
    """
    ident = f"proposed-{slot}" + (f"-p{patient_id}" if patient_id else "")
    actors = [f"Practitioner/{slot.clinician_id}", f"Location/{slot.location_id}",
              *([f"Patient/{patient_id}"] if patient_id else [])]
    return {
        "resourceType": "Appointment", "id": ident, "status": "proposed",
        "serviceType": [concept(SERVICE_SYSTEM, service.code, service.name)],
        "start": start.isoformat(), "end": end.isoformat(), "minutesDuration": service.duration_minutes,
        "slot": [{"reference": f"Slot/{slot}"}],
        "participant": [{"actor": {"reference": actor}, "required": "required", "status": "needs-action"}
                        for actor in actors],
        "requestedPeriod": [{"start": requested[0].isoformat(), "end": requested[1].isoformat()}],
    }
