"""The clinic's fixed vocabularies, stored as checked strings in the database."""

from enum import StrEnum

import sqlalchemy as sa


class Certification(StrEnum):
    """What a clinician is certified to do; services name the one they need."""

    MSUS = "msus"
    DRY_NEEDLING = "dry_needling"
    ESWT = "eswt"
    EMTT = "emtt"
    MANUAL_THERAPY = "manual_therapy"
    DNS = "dns"
    GAIT = "gait"
    PHYSICAL_THERAPY = "physical_therapy"

    @property
    def label(self) -> str:
        return CERTIFICATION_LABELS[self]


CERTIFICATION_LABELS = {
    Certification.MSUS: "diagnostic musculoskeletal ultrasound (MSUS)",
    Certification.DRY_NEEDLING: "dry needling",
    Certification.ESWT: "shockwave therapy (ESWT)",
    Certification.EMTT: "EMTT",
    Certification.MANUAL_THERAPY: "chiropractic / manual therapy",
    Certification.DNS: "dynamic neuromuscular stabilization (DNS)",
    Certification.GAIT: "gait analysis",
    Certification.PHYSICAL_THERAPY: "physical therapy",
}


class RoomKind(StrEnum):
    TREATMENT = "treatment"
    GYM = "gym"
    GAIT_LAB = "gait_lab"


class ExceptionKind(StrEnum):
    """A dated change to a clinician's weekly pattern."""

    TIME_OFF = "time_off"
    EXTRA_SHIFT = "extra_shift"


class Role(StrEnum):
    ADMIN = "admin"
    FRONT_DESK = "front_desk"
    CLINICIAN = "clinician"


def checked_enum(enum: type[StrEnum]) -> sa.Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint on both backends."""
    return sa.Enum(
        enum,
        name=enum.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class AppointmentStatus(StrEnum):
    """The life of an appointment; the values are FHIR Appointment.status codes, one to one."""

    PENDING = "pending"
    BOOKED = "booked"
    ARRIVED = "arrived"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    NOSHOW = "noshow"


# Statuses whose appointments hold on to their clinician, room, devices and patient.
LIVE_STATUSES = frozenset({AppointmentStatus.PENDING, AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED,
                           AppointmentStatus.FULFILLED})


class ResourceKind(StrEnum):
    """What an allocation row reserves: each is never in two live appointments at once."""

    CLINICIAN = "clinician"
    ROOM = "room"
    DEVICE = "device"
    PATIENT = "patient"


class SameClinicianRule(StrEnum):
    """Continuity of care for the sessions of one plan line."""

    NONE = "none"
    PREFERRED = "preferred"
    REQUIRED = "required"


class LinkKind(StrEnum):
    """How two plan lines relate: back to back in one visit, or one strictly before the other."""

    SAME_VISIT = "same_visit"
    BEFORE = "before"


class PlanStatus(StrEnum):
    DRAFT = "draft"
    PROPOSED = "proposed"
    CONFIRMED = "confirmed"


class WaitlistStatus(StrEnum):
    """A waitlist request waits, is offered a hold, is booked (its offer became the patient's appointment: the
    request is served, and stays so if that appointment is later cancelled or moved) or is closed by the desk."""
    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    CLOSED = "closed"


class RequestKind(StrEnum):
    """What a visitor or patient asks for on the public pages."""

    TELEHEALTH = "telehealth"
    IN_OFFICE = "in_office"
    MOVE = "move"


class RequestStatus(StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    EXPIRED = "expired"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunTrigger(StrEnum):
    NIGHTLY = "nightly"
    MANUAL = "manual"


class MessageKind(StrEnum):
    """Why a patient is told something: one kind per change they must hear about."""

    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    PLAN_CONFIRMED = "plan_confirmed"
    REQUEST_RECEIVED = "request_received"
    REQUEST_CONFIRMED = "request_confirmed"
    REQUEST_DECLINED = "request_declined"
    WAITLIST_OFFER = "waitlist_offer"
    NIGHTLY_MOVE = "nightly_move"
    REMINDER = "reminder"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class MessageStatus(StrEnum):
    """A message's delivery: waiting (due now or later), being sent, sent, or given up (shown to the desk).

    ``uncertain``: a worker died after handing an SMS to the provider and before recording it; SMS cannot be
    sent idempotently, so it is not sent again on its own: the desk decides.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
